"""What the censored data step recovers on 8-bit measurements, and at which noise level to censor
(docs/training.md, "8-bit inputs"; docs/method.md, "clipped measurements").

    PYTHONPATH=. python3 benchmarks/censoring.py --checkpoint glow-denoise --data ../shared/data/celeba64/val \\
        --limit 96 --sigmas 0.1 0.2 0.3

For each noise level: mean PSNR on the benchmark's float measurements, on the same measurements as
8-bit files read as exact, and censored (flowrestore.operators.censored) at the true level, at the
model's trained level and at the level estimated from each image (flowrestore.noise_level).
"""

from __future__ import annotations

import argparse

import torch

from flowrestore.benchmark import metrics
from flowrestore.benchmark.datasets import load_images
from flowrestore.checkpoints import load
from flowrestore.noise_level import estimate_sigma
from flowrestore.operators import Denoise, measure_each, quantize_8bit
from flowrestore.operators.censored import Censored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="glow-denoise", help="registry name or path of a denoiser")
    ap.add_argument("--data", required=True, help="a folder of clean faces, or celeba / anime")
    ap.add_argument("--limit", type=int, default=96)
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    loaded = load(args.checkpoint, "denoise")
    model = loaded.model.eval()
    trained = loaded.metadata["task"]["noise_sigma"]
    images = load_images(args.data, args.limit)
    op = Denoise()
    print(f"{args.checkpoint} on {len(images)} faces of {args.data} (mean PSNR, dB)\n")
    print(f"| sigma | float | 8-bit, exact | censored at sigma | censored at {trained:g} | censored at the estimate |")
    print("|---|---|---|---|---|---|")
    for sigma in args.sigmas:
        scores: dict[str, list[float]] = {k: [] for k in ("float", "exact", "true", "trained", "estimate")}
        with torch.no_grad():
            for start in range(0, len(images), args.batch):
                x = images.images[start : start + args.batch]
                y = measure_each(x, op, sigma, images.seeds[start : start + args.batch])
                file = quantize_8bit(y)
                estimate = estimate_sigma(file).clamp_min(1e-3)
                runs = {"float": (y, op), "exact": (file, op), "true": (file, Censored(op, sigma)),
                        "trained": (file, Censored(op, trained)), "estimate": (file, Censored(op, estimate))}
                for key, (measurement, operator) in runs.items():
                    scores[key] += [p for p, _ in metrics.score(model(measurement, operator, sigma=sigma), x)]
        means = [sum(v) / len(v) for v in scores.values()]
        print(f"| {sigma:g} | " + " | ".join(f"{m:.2f}" for m in means) + " |")


if __name__ == "__main__":
    main()
