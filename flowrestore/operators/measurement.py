"""Seeded measurements y = A x + noise, reproducible from (image, seed) on any device."""

from __future__ import annotations

import hashlib
import math

import torch
from torch import Tensor

from flowrestore.operators.base import LinearOperator


def image_seed(name: str, seed: int = 0) -> int:
    """A fixed 31-bit noise seed for an image from its file name (sha256), the same on every machine.

    `restore --degrade` and the benchmark both use it, so an image measured by either gets the
    same noise; a non-zero `seed` draws another noise for every image.
    """
    key = name if seed == 0 else f"{seed}:{name}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little") & 0x7FFFFFFF


def gaussian_noise(shape: tuple[int, ...], sigma: float, seed: int, dtype=torch.float32) -> Tensor:
    """sigma * N(0, 1) noise drawn on the CPU from `seed`, so every device sees the same values."""
    g = torch.Generator().manual_seed(int(seed))
    return sigma * torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def measure(x: Tensor, operator: LinearOperator, noise_sigma: float = 0.0, seed: int = 0) -> Tensor:
    """y = A(x - 1/2) + 1/2 + sigma * eta with eta seeded by `seed`; noisy values are not clipped."""
    y = operator.measure_clean(x)
    if noise_sigma > 0:
        y = y + gaussian_noise(tuple(y.shape), noise_sigma, seed, y.dtype).to(y.device)
    return y


def measure_each(x: Tensor, operator: LinearOperator, noise_sigma: float, seeds: list[int]) -> Tensor:
    """Like `measure`, with one seed per image so a measurement does not depend on batching."""
    y = operator.measure_clean(x)
    if noise_sigma > 0:
        noise = torch.stack(
            [gaussian_noise(tuple(y.shape[1:]), noise_sigma, s, y.dtype) for s in seeds]
        ).to(y.device)
        y = y + noise
    return y


def quantize_8bit(y: Tensor) -> Tensor:
    """A measurement as an 8-bit image file holds it: clipped to [0, 1] and rounded to 1/255."""
    return torch.round(y.clamp(0, 1) * 255) / 255


# A stored measurement is rounded to a grid of step q; as a noise level, that error is q / sqrt(12)
# (uniform on one step). float32 holds [0.5, 1) to 2^-24, an 8-bit file to 1/255.
STORAGE_SIGMA = {"float32": 2.0**-24 / math.sqrt(12), "8bit": 1 / (255 * math.sqrt(12))}


def with_storage(noise_sigma, eight_bit) -> Tensor:
    """The noise level of a measurement with Gaussian noise `noise_sigma` (a number or one per image)
    once stored, as float32 values or (`eight_bit`, a bool or one per image) as an 8-bit file:
    sqrt(noise_sigma^2 + storage^2), so it is positive even for a noise-free measurement."""
    noise = torch.as_tensor(noise_sigma, dtype=torch.float32)
    eight_bit = torch.as_tensor(eight_bit, device=noise.device)
    storage = torch.where(eight_bit, STORAGE_SIGMA["8bit"], STORAGE_SIGMA["float32"]).to(noise)
    return torch.sqrt(noise**2 + storage**2)
