"""How far a ridge inverse alone gets on the paper's 5x5 zero-padded blur (docs/results/deblur-initial-guess.md).

    PYTHONPATH=. python3 benchmarks/ridge_inverse.py --data ../shared/data/celeba64/val --out ridge.md

For sigma_b and measurement kind (the benchmark's float measurements, the same as 8-bit files, and
with Gaussian noise), the mean PSNR of x = 1/2 + argmin ||A v - (y - 1/2)||^2 + beta ||v||^2 over a
grid of beta (flowrestore.solver.initial.ridge), and the condition number of A^T A.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from flowrestore.benchmark import metrics
from flowrestore.benchmark.datasets import load_images
from flowrestore.operators import TaskSpec, measure_each, quantize_8bit
from flowrestore.solver.initial import ridge

BALANCES = (1e-8, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2)


def measurements(y: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(y.shape, generator=g, dtype=y.dtype)
    return {"float (benchmark)": y, "8-bit file": quantize_8bit(y), "noise 0.01": y + 0.01 * noise,
            "noise 0.01, 8-bit": quantize_8bit(y + 0.01 * noise)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a folder of clean faces, or celeba / anime")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--blurs", type=float, nargs="+", default=[1.0, 5.0, 8.0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    images = load_images(args.data, args.limit)
    x = images.images.to(torch.float64)
    lines = [f"Ridge inverse alone on {len(images)} faces of `{args.data}` (mean PSNR, dB)", "",
             "| sigma_b | cond(A^T A) | measurement | " + " | ".join(f"beta {b:g}" for b in BALANCES) + " |",
             "|---|---|---|" + "---|" * len(BALANCES)]
    for blur in args.blurs:
        op = TaskSpec("deblur", blur_sigma=blur).operator(*x.shape[-2:]).double()
        f_h, _ = op.factors(*x.shape[-2:])
        eig = torch.linalg.eigvalsh(f_h.T @ f_h)
        cond = float((eig.max() / eig.min()) ** 2)  # of A^T A = (F^T F) kron (F^T F) for a square image
        clean = measure_each(x, op, 0.0, images.seeds)
        for kind, y in measurements(clean, 0).items():
            cells = []
            for balance in BALANCES:
                scores = [p for p, _ in metrics.score(ridge(y, op, balance).float(), x.float())]
                cells.append(f"{sum(scores) / len(scores):.2f}")
            lines.append(f"| {blur:g} | {cond:.1e} | {kind} | " + " | ".join(cells) + " |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
