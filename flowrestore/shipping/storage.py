"""Which precision a shipped file is stored in: int8 kernels where they keep the restorations, else
int8 with the coupling networks' output convolutions in fp16, else fp16.

int8 kernels (flowrestore.quantization) cost at most 0.01 dB on the files first stored so, but a
denoiser trained further lost 1.2 dB to them (docs/training.md, "Weight storage"): how much a
model tolerates rounding is a property of the weights, not of the format. So each task model is
tried: its int8 restorations of the first validation faces, measured as the benchmark measures
them, must agree with its fp32 ones to within AGREEMENT_DB of PSNR. If they do not, the output
convolutions (the group whose rounding the noise-aware denoiser tolerated least; docs/training.md,
"Weight storage") are kept in fp16 and the rest int8 (for a compact 4-fold solver 1.5 MB more than
int8, 1.3 MB less than fp16) and tried the same way; failing that, the whole file is stored as fp16.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from flowrestore.metrics import psnr
from flowrestore.operators import TaskSpec
from flowrestore.serialization import FLOAT16, INT8, INT8_FLOAT16_OUTPUTS, Checkpoint, load_model, save_model

# int8 vs fp32 restorations. Measured: three files that lost at most 0.01 dB to int8 (deblur, both
# denoisers) agreed to 57-60 dB, the denoiser that lost 1.2 dB to 30 dB (docs/training.md, "Weight storage").
AGREEMENT_DB = 45.0
PROBE_IMAGES = 16


def _restorations(model: nn.Module, task: TaskSpec, images: torch.Tensor, sigma) -> torch.Tensor:
    from flowrestore.solving import simulate, solve

    y = simulate(images, task, None, list(range(images.shape[0])))  # float measurements
    with torch.no_grad():
        return solve(model.eval(), y, task, sigma=sigma)


def _told(model: nn.Module, task: TaskSpec):
    from flowrestore.solving import noise_conditioned, told_sigma

    return told_sigma(model, task.noise_sigma, eight_bit=False) if noise_conditioned(model) else None


def _mean_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(sum(psnr(a[i], b[i]) for i in range(a.shape[0])) / a.shape[0])


def agreement_with(reference: torch.Tensor, rounded: nn.Module, task: TaskSpec, images: torch.Tensor, sigma) -> float:
    """Mean PSNR (dB) between `reference` (the exact model's restorations) and `rounded`'s of `images`."""
    return _mean_psnr(reference, _restorations(rounded, task, images, sigma))


def agreement(exact: nn.Module, rounded: nn.Module, task: TaskSpec, images: torch.Tensor) -> float:
    """Mean PSNR (dB) between the two models' restorations of `images` measured by `task`."""
    sigma = _told(exact, task)
    return agreement_with(_restorations(exact, task, images, sigma), rounded, task, images, sigma)


def save_shipped(out: Path, ckpt: Checkpoint, extra: dict, probe: Path | None) -> str:
    """Write `ckpt` to `out` as int8 kernels; for a task model whose restorations of the faces in
    `probe` (a folder) that changes too much, with its output convolutions in fp16, and failing that
    as fp16. Returns the storage written: "int8", "int8+float16" or "float16"."""
    save_model(out, ckpt.model, extra=extra, dtype=torch.int8)
    if probe is None or ckpt.kind != "solver":
        return INT8
    from flowrestore.benchmark.datasets import load_images

    images = load_images(str(probe), PROBE_IMAGES).images
    task = TaskSpec.from_dict(ckpt.metadata["task"])
    sigma = _told(ckpt.model, task)
    exact = _restorations(ckpt.model, task, images, sigma)  # once, for every storage tried

    def agrees() -> bool:
        return agreement_with(exact, load_model(out).model, task, images, sigma) >= AGREEMENT_DB

    if agrees():
        return INT8
    save_model(out, ckpt.model, extra=extra, dtype=torch.int8, float16_outputs=True)
    if agrees():
        return INT8_FLOAT16_OUTPUTS
    save_model(out, ckpt.model, extra=extra, dtype=torch.float16)
    return FLOAT16
