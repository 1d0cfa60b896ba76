"""How far the Wiener initial guess alone gets on noisy faces (docs/results/denoise-initial-guess.md).

    PYTHONPATH=. python3 benchmarks/wiener_start.py --train ../shared/data/celeba64/train \\
        --data ../shared/data/celeba64/val --out wiener.md

Fits the stationary Gaussian prior (flowrestore.solver.wiener.fit_spectrum) on the training images
finetune fits it on (the first SPECTRUM_IMAGES in file order), then prints, per noise level, the mean PSNR
of the measurement, of the Wiener estimate on float measurements (the benchmark's) and on the same
measurements as 8-bit files (clipped, rounded), the Wiener told sigma in both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from flowrestore.benchmark.datasets import load_images
from flowrestore.metrics import psnr_each
from flowrestore.operators import TaskSpec, measure_each, quantize_8bit
from flowrestore.solver.wiener import fit_spectrum, wiener
from flowrestore.training.finetune import SPECTRUM_IMAGES

LEVELS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", default="../shared/data/celeba64/train")
    ap.add_argument("--data", default="../shared/data/celeba64/val")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mean, table = fit_spectrum(load_images(args.train, SPECTRUM_IMAGES).images)
    images = load_images(args.data, args.limit)
    x, seeds = images.images, images.seeds  # the benchmark's images and seeds
    denoise = TaskSpec.default("denoise").operator(64, 64)
    lines = [f"Wiener initial guess alone on {x.shape[0]} faces of {args.data} (mean PSNR, dB; prior fitted on "
             f"the first {SPECTRUM_IMAGES} of {args.train})", "",
             "| sigma | measurement | Wiener, float | Wiener, 8-bit file |", "|---|---|---|---|"]
    for sigma in LEVELS:
        y = measure_each(x, denoise, sigma, seeds)
        told = torch.full((x.shape[0],), sigma)
        row = [y, wiener(y, mean, table, told), wiener(quantize_8bit(y), mean, table, told)]
        lines.append(f"| {sigma:g} | " + " | ".join(f"{float(psnr_each(v.clamp(0, 1), x).mean()):.2f}" for v in row)
                     + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
