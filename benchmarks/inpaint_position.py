"""How the shipped inpainting model fares when the hole moves off the paper's centre box.

    PYTHONPATH=. python3 benchmarks/inpaint_position.py --images 32 --shifts 0 1 2 4 8

The paper's protocol (and the fine-tuning) always masks the same 19x19 box at the centre of the
64x64 frame. This script masks the same box shifted by (dx, dy) pixels on celeba64/val faces and
reports PSNR of the restoration and of the measurement, to show how far a model fine-tuned on
one box position carries to holes elsewhere (a user's --mask, or a face in a photo).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from flowrestore.checkpoints import load
from flowrestore.image_folders import image_files, read_square
from flowrestore.metrics import psnr
from flowrestore.operators import CENTRE, TaskSpec
from flowrestore.restore import solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".data/val"))
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--shifts", type=int, nargs="+", default=[0, 1, 2, 4, 8])
    parser.add_argument("--checkpoint", default="glow-inpaint")
    args = parser.parse_args()
    files = image_files(args.data)[: args.images]
    x = torch.stack([torch.from_numpy(read_square(f, "RGB", 64)).permute(2, 0, 1).float() / 255 for f in files])
    model = load(args.checkpoint, "inpaint").model
    spec = TaskSpec.default("inpaint")
    box = spec.box
    top = (64 - box) // 2
    print(f"{args.checkpoint} on {len(files)} celeba64/val faces, {box}x{box} box shifted by (dx, dy)\n")
    print("| dx | dy | restored (dB) | measurement (dB) |")
    print("|---|---|---|---|")
    for shift in args.shifts:
        for dx, dy in sorted({(shift, 0), (shift, shift)}):
            mask = torch.ones(64, 64)
            mask[top + dy : top + dy + box, top + dx : top + dx + box] = 0
            y = torch.where(mask > 0.5, x, torch.full_like(x, CENTRE))
            restored = solve(model, y, spec, mask)
            scores = [psnr(restored[i], x[i]) for i in range(len(files))]
            measured = [psnr(y[i], x[i]) for i in range(len(files))]
            print(f"| {dx} | {dy} | {np.mean(scores):.2f} | {np.mean(measured):.2f} |", flush=True)


if __name__ == "__main__":
    main()
