"""The noise-aware denoiser told levels outside its trained range: as told, or held to the range.

    PYTHONPATH=. python3 benchmarks/sigma_floor.py --data ../shared/data/celeba64/val --limit 64

For each true noise level (0 is a clean 8-bit face), the shipped `glow-denoise-aware` restores the
same 8-bit clipped measurements told the true level (at least 0.001, `restore`'s smallest estimate)
and told that level held to its trained range; mean PSNR (dB) as a Markdown table. This measured
why `restore` raises a level below the range to its bottom (flowrestore.solving.sigma_floor) but
lets one above it extrapolate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from flowrestore.benchmark.datasets import load_images
from flowrestore.metrics import psnr_each
from flowrestore.operators import Denoise, gaussian_noise, quantize_8bit
from flowrestore.operators.censored import censored
from flowrestore.serialization import load_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / ".data" / "val"))
    ap.add_argument("--limit", type=int, default=64)
    ap.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.005, 0.01, 0.02, 0.3, 0.35, 0.4])
    ap.add_argument("--checkpoint", default=str(ROOT / "flowrestore" / "weights" / "glow-denoise-aware.safetensors"))
    args = ap.parse_args()
    loaded = load_model(args.checkpoint)
    model = loaded.model.eval()
    low, high = loaded.metadata["sigma_range"]
    x = load_images(args.data, limit=args.limit).images
    print(f"{len(x)} images of {args.data}; {Path(args.checkpoint).name}, trained on sigma {low:g} to {high:g}\n")
    print("| true sigma | told it | PSNR (dB) | told it held to the range | PSNR (dB) |")
    print("|---|---|---|---|---|")
    for true in args.levels:
        noise = torch.stack([gaussian_noise(tuple(x.shape[1:]), true, 500 + i) for i in range(len(x))]) if true else 0
        y = quantize_8bit(x + noise)
        cells = [f"{true:g}"]
        for told in (max(true, 1e-3), min(max(true, low), high)):
            sigma = torch.full((len(x),), told)
            with torch.no_grad():
                x_hat = model(y, censored(Denoise(), sigma), sigma=sigma).clamp(0, 1)
            cells += [f"{told:g}", f"{float(psnr_each(x_hat, x).mean()):.2f}"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
