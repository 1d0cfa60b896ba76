"""Deblurring across measurement kinds: the paper's float protocol, 8-bit files, and 8-bit files with
noise, for each model given the noise level and (noise-aware models) with it estimated
(docs/results/deblur-noise.md).

    PYTHONPATH=. python3 benchmarks/deblur_noise.py --data ../shared/data/celeba64/val \
        --model glow-deblur=flowrestore/weights/glow-deblur.safetensors --model aware=RUN/best.safetensors \
        --out deblur-noise.md

Every measurement is y = A(x - 1/2) + 1/2 + sigma_n * eta at sigma_b = 5 with the benchmark's seeds,
then for files clipped and rounded to 8 bits and restored as `restore` restores a file (clipped pixels
censored). A noise-aware deblurrer is told sigma_n with the storage's rounding counted
(flowrestore.solving.told_sigma); a plain one is told nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from flowrestore.benchmark import metrics
from flowrestore.benchmark.datasets import load_images
from flowrestore.noise_level import estimate_sigma
from flowrestore.operators import TaskSpec, measure_each, quantize_8bit
from flowrestore.serialization import load_model
from flowrestore.solving import counts_storage, solve, told_sigma


def mean_psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    return sum(p for p, _ in metrics.score(x_hat, x)) / len(x)


KINDS = (("float (Table I)", 0.0, False), ("8-bit file", 0.0, True), ("8-bit, noise 0.005", 0.005, True),
         ("8-bit, noise 0.01", 0.01, True), ("8-bit, noise 0.02", 0.02, True))


def restore_all(model, y: torch.Tensor, task: TaskSpec, noise, eight_bit: bool, batch: int = 64) -> torch.Tensor:
    """x_hat for every measurement, `noise` one level per image (or None: the model is told nothing)."""
    out = []
    for start in range(0, y.shape[0], batch):
        part = y[start : start + batch]
        sigma = None if noise is None else told_sigma(model, noise[start : start + batch], eight_bit)
        out.append(solve(model, part, task, sigma=sigma, clipped=eight_bit))
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a folder of clean faces, or celeba / anime")
    ap.add_argument("--model", action="append", required=True, metavar="LABEL=PATH")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    images = load_images(args.data, args.limit)
    x = images.images
    task = TaskSpec.default("deblur")
    op = task.operator(*x.shape[-2:])
    models = {}
    for spec in args.model:
        label, _, path = spec.partition("=")
        models[label] = load_model(Path(path)).model.eval()
    rows = []
    for kind, noise_sigma, eight_bit in KINDS:
        y = measure_each(x, op, noise_sigma, images.seeds)
        y = quantize_8bit(y) if eight_bit else y
        given = torch.full((x.shape[0],), noise_sigma)
        estimated = estimate_sigma(y).clamp_min(0.0) if eight_bit else None
        cells = []
        for label, model in models.items():
            aware = counts_storage(model)
            cell = f"{mean_psnr(restore_all(model, y, task, given if aware else None, eight_bit), x):.2f}"
            if aware and estimated is not None:
                cell += f" / {mean_psnr(restore_all(model, y, task, estimated, eight_bit), x):.2f}"
            cells.append(cell)
        rows.append(f"| {kind} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    head = [f"Deblurring sigma_b = 5 (5x5, zero boundary) on {len(x)} faces of `{args.data}`: mean PSNR, dB "
            "(noise-aware models: sigma given / sigma estimated)", "",
            "| measurement | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    args.out.write_text("\n".join(head + rows) + "\n")


if __name__ == "__main__":
    main()
