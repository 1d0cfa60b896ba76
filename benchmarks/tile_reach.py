"""How far a tile's cut reaches into the restoration: the evidence for the default --tile-pad.

    PYTHONPATH=. python3 benchmarks/tile_reach.py --task denoise

Restores a 256x256 measurement of an upscaled CelebA validation face whole, and its left
`--width` columns alone (a tile cut at column `--width`), and prints the mean and largest
difference between the two as a function of the distance from the cut. Where the difference is
below half an 8-bit level (0.002), tiles padded by that distance leave no trace in a saved image.

With --seam, also restores a --seam-size square measurement of the same face both whole and in
default tiles (flowrestore.tiling.Tiling()) and prints how much the two differ, overall and in
8-bit levels after quantisation.
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
from flowrestore.tiling import Tiling, count_tiles, solve_tiled

DISTANCES = (0, 2, 4, 8, 16, 24, 32, 40, 48, 64, 96)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="denoise")
    parser.add_argument("--face", type=Path, default=Path("/work/shared/data/celeba64/val/celebahq_0000021.png"))
    parser.add_argument("--width", type=int, default=128, help="columns of the cut tile (a multiple of 8)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seam", action="store_true", help="also compare tiled and untiled on a larger image")
    parser.add_argument("--seam-size", type=int, default=704)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = load(f"glow-{args.task}", args.task)
    model = loaded.model
    task = TaskSpec.from_dict(loaded.metadata["task"])  # the operator the model was trained for, as restore runs it
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
    if args.seam:
        seam(model, task, args.face, args.seam_size)
    return 0


def seam(model, task: TaskSpec, face: Path, size: int) -> None:
    x = F.interpolate(read_image(face).rgb[None], size=(size, size), mode="bicubic").clamp(0, 1)
    y = simulate(x, task, None, [0])
    tiling = Tiling()
    whole, tiled = solve(model, y, task), solve_tiled(model, y, task, tiling=tiling)
    error = (tiled - whole).abs()
    levels = ((tiled * 255).round() - (whole * 255).round()).abs()
    tiles = count_tiles(size, size, tiling, model.size_multiple)
    print(f"\n{size}x{size}, {tiles} tiles of {tiling.tile} (pad {tiling.pad}) against untiled:")
    print(f"mean abs difference {error.mean():.1e}, max {error.max():.1e}; 8-bit files: "
          f"{(levels > 0).float().mean():.2%} of values differ, by at most {levels.max():.0f} level(s)")


if __name__ == "__main__":
    raise SystemExit(main())
