"""The shipped deblurrer (trained at sigma_b = 5) under other blur widths of the paper's 5x5 kernel.

    PYTHONPATH=. python3 benchmarks/blur_sweep.py --images 32 --sigmas 1 2 3 4 5 6 8

celeba64/val faces, blurred with the 5x5 Gaussian of each sigma_b (zero padding of the centred
image, no noise), seeded as the benchmark seeds, restored by the model as it is. Prints a
markdown table of mean PSNR (dB) of the restoration and of the measurement.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from flowrestore.checkpoints import load
from flowrestore.image_folders import image_files, read_square
from flowrestore.metrics import psnr
from flowrestore.operators import TaskSpec
from flowrestore.solving import simulate, solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".data/val"))
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[1, 2, 3, 4, 5, 6, 8])
    parser.add_argument("--checkpoint", default="glow-deblur")
    args = parser.parse_args()
    files = image_files(args.data)[: args.images]
    x = torch.stack([torch.from_numpy(read_square(f, "RGB", 64)).permute(2, 0, 1).float() / 255 for f in files])
    model = load(args.checkpoint, "deblur").model
    print(f"{args.checkpoint} on {len(files)} celeba64/val faces\n")
    print("| sigma_b | restored (dB) | measurement (dB) |")
    print("|---|---|---|")
    for sigma_b in args.sigmas:
        spec = replace(TaskSpec.default("deblur"), blur_sigma=float(sigma_b))
        y = simulate(x, spec, None, list(range(len(files))))
        restored = solve(model, y, spec)
        scores = np.mean([psnr(restored[i], x[i]) for i in range(len(files))])
        measured = np.mean([psnr(y[i].clamp(0, 1), x[i]) for i in range(len(files))])
        print(f"| {sigma_b:g} | {scores:.2f} | {measured:.2f} |", flush=True)


if __name__ == "__main__":
    main()
