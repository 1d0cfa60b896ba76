"""How far a tile's cut reaches into the restoration: the evidence for the default --tile-pad.

    PYTHONPATH=. python3 benchmarks/tile_reach.py --task denoise

Restores a 256x256 measurement of an upscaled CelebA validation face whole, and its left
`--width` columns alone (a tile cut at column `--width`), and prints the mean and largest
difference between the two as a function of the distance from the cut. Where the difference is
below half an 8-bit level (0.002), tiles padded by that distance leave no trace in a saved image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.nn import functional as F

from flowrestore.checkpoints import load
from flowrestore.imageio import read_image
from flowrestore.operators import TaskSpec
from flowrestore.restore import simulate, solve

DISTANCES = (0, 2, 4, 8, 16, 24, 32, 40, 48, 64, 96)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="denoise")
    parser.add_argument("--face", type=Path, default=Path("/work/shared/data/celeba64/val/celebahq_0000021.png"))
    parser.add_argument("--width", type=int, default=128, help="columns of the cut tile (a multiple of 8)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    task = TaskSpec.default(args.task)
    model = load(f"glow-{args.task}", args.task).model
    x = F.interpolate(read_image(args.face).rgb[None], size=(256, 256), mode="bicubic").clamp(0, 1)
    y = simulate(x, task, None, [0])
    whole = solve(model, y, task)
    part = solve(model, y[..., : args.width], task)
    error = (part - whole[..., : args.width]).abs()  # (1, 3, 256, width)
    print(f"{args.task}: a tile cut at column {args.width} of 256, against the untiled restoration\n")
    print("| distance from the cut (px) | mean abs difference | max abs difference |\n|---:|---:|---:|")
    for d in DISTANCES:
        column = error[..., args.width - 1 - d]
        print(f"| {d} | {column.mean():.1e} | {column.max():.1e} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
