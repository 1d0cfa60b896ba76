"""Fit the noise estimator's calibration on validation faces and measure its error on test faces.

    python benchmarks/noise_estimator.py --val ../shared/data/celeba64/val --test celeba --limit 150 \\
        --out docs/results/noise-estimator.md

Measurements are as files hold them: y = x + sigma * eta, clipped to [0, 1] and rounded to 8 bits.
Prints the calibration table (paste it into flowrestore/noise_level.py) and writes a Markdown
report of the mean and 90th-percentile relative error per sigma on the test images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from flowrestore.benchmark.datasets import load_images
from flowrestore.noise_level import estimate_sigma, raw_estimate
from flowrestore.operators import gaussian_noise, quantize_8bit

GRID = tuple(round(0.02 * i, 2) for i in range(21))  # 0 .. 0.40
REPORT = (0.02, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)


def noisy(x: torch.Tensor, sigma: float, first_seed: int) -> torch.Tensor:
    noise = torch.stack([gaussian_noise(tuple(x.shape[1:]), sigma, first_seed + i) for i in range(len(x))])
    return quantize_8bit(x + noise)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--val", required=True)
    ap.add_argument("--test", default="celeba")
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    val = load_images(args.val, args.limit).images
    table = [round(float(raw_estimate(noisy(val, s, 0)).median()), 4) for s in GRID]
    print("CALIBRATION_RAW =", tuple(table))
    test = load_images(args.test, args.limit).images
    lines = ["| sigma | mean estimate | mean relative error | 90th percentile | raw (uncalibrated) mean relative error |",
             "|---|---|---|---|---|"]
    for s in REPORT:
        y = noisy(test, s, 5000)
        est, raw = estimate_sigma(y).numpy(), raw_estimate(y).numpy()
        rel = np.abs(est - s) / s
        lines.append(f"| {s:.2f} | {est.mean():.4f} | {rel.mean():.3f} | {np.quantile(rel, 0.9):.3f} | "
                     f"{(np.abs(raw - s) / s).mean():.3f} |")
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(
            "# The noise-level estimator on the test faces\n\n"
            f"{len(test)} test images, each with noise of known sigma, clipped and rounded to 8 bits as files hold\n"
            "them (the estimator and its calibration: docs/method.md, flowrestore/noise_level.py). Produced by\n\n"
            f"    python benchmarks/noise_estimator.py --val {args.val} --test {args.test} --limit {args.limit} "
            f"--out {args.out}\n\n{report}\n"
        )


if __name__ == "__main__":
    main()
