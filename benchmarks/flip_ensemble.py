"""The flip self-ensemble (SolverConfig.flip_ensemble, docs/method.md) measured on validation faces:
one pass, the mirrored pass (mirrored back) and their mean, for the shipped denoisers across noise
levels, for the inpainter, whose centre box is not mirror-symmetric, and for the deblurrer on 8-bit files.

    PYTHONPATH=. python3 benchmarks/flip_ensemble.py --data ../shared/data/celeba64/val --limit 96

Measurements are seeded per image as in training's validation (flowrestore.operators.measure_each).
For inpainting two mirrored restorations are tried: the face mirrored with its box (columns 22..40 become
23..41), and the face mirrored about column 31 with the last column kept, which keeps the box in place
but moves the face by one pixel. Prints a Markdown table (PSNR in dB, clipped to [0, 1]).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from flowrestore.benchmark.datasets import load_images
from flowrestore.checkpoints import load
from flowrestore.operators import Inpaint, TaskSpec
from flowrestore.operators.measurement import measure_each
from flowrestore.solving import simulate, solve, told_sigma


def psnr(estimate: torch.Tensor, x: torch.Tensor) -> float:
    mse = ((estimate.clamp(0, 1) - x) ** 2).flatten(1).mean(1)
    return float((10 * torch.log10(1 / mse)).mean())


def row(name: str, setting: str, a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> None:
    print(f"| {name} | {setting} | {psnr(a, x):.2f} | {psnr(b, x):.2f} | {psnr((a + b) / 2, x):.2f} |")


def one_pass(name: str):
    """The registry's model, with the ensemble off: its single restoration."""
    model = load(name).model.float().eval()
    model.config = replace(model.config, flip_ensemble=False)
    return model


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/celeba64/val")
    ap.add_argument("--limit", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = load_images(args.data, args.limit).images
    seeds = [10_000 + i for i in range(x.shape[0])]
    print(f"{x.shape[0]} faces of {args.data}\n")
    print("| model | setting | one pass | mirrored pass | mean of the two |")
    print("|---|---|---|---|---|")
    denoise = TaskSpec.default("denoise").operator(64, 64)
    for name, levels in (("glow-denoise", [0.2]), ("glow-denoise-aware", [0.05, 0.1, 0.2, 0.3])):
        model = one_pass(name)
        for sigma in levels:
            y = torch.cat([measure_each(x[i : i + 1], denoise, sigma, [s]) for i, s in enumerate(seeds)])
            a = model(y, denoise, sigma=sigma)
            b = model(y.flip(-1), denoise, sigma=sigma).flip(-1)
            row(name, f"σ = {sigma:g}", a, b, x)
    model = one_pass("glow-inpaint")
    centre = TaskSpec.default("inpaint").operator(64, 64)
    y = torch.cat([measure_each(x[i : i + 1], centre, 0.0, [s]) for i, s in enumerate(seeds)])
    a = model(y, centre)
    b = model(y.flip(-1), Inpaint(centre.mask.flip(-1))).flip(-1)
    row("glow-inpaint", "mirrored with its box", a, b, x)

    def about_31(t):  # column c <-> 62 - c, column 63 kept: the centre box maps onto itself
        return torch.cat([t[..., :63].flip(-1), t[..., 63:]], -1)

    b = about_31(model(about_31(y), centre))
    row("glow-inpaint", "mirrored about column 31", a, b, x)
    # Deblurring as users' files hold it: 8-bit, clipped, the deblurrer told the noise with the file's rounding
    # (its float measurements it inverts to 60 dB). The Gaussian blur commutes with the mirror.
    model, task = one_pass("glow-deblur"), TaskSpec.default("deblur")
    for noise in (0.0, 0.01):
        spec = replace(task, noise_sigma=noise)
        y = (simulate(x, spec, None, seeds).clamp(0, 1) * 255).round() / 255
        sigma = told_sigma(model, noise, eight_bit=True)
        a = solve(model, y, spec, sigma=sigma, clipped=True)
        b = solve(model, y.flip(-1), spec, sigma=sigma, clipped=True).flip(-1)
        row("glow-deblur", f"8-bit files, noise σ = {noise:g}", a, b, x)


if __name__ == "__main__":
    main()
