"""Gaussian deblurring: A is a circular convolution with a normalised Gaussian kernel.

Boundary handling (the paper leaves it open): periodic. The blur is applied in the
Fourier domain on the image's own grid, which makes A and its adjoint exact for any
image size and keeps A's largest singular value at 1. The kernel is truncated at
3 sigma (size 2*ceil(3*sigma)+1, 31x31 for sigma_b = 5), and cropped to the image
when the image is smaller.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from flowrestore.operators.base import LinearOperator


def gaussian_kernel(sigma: float, size: int | None = None) -> Tensor:
    """Normalised 2-D Gaussian, shape (size, size), size odd."""
    if sigma <= 0:
        raise ValueError(f"blur sigma must be positive, got {sigma}")
    if size is None:
        size = 2 * math.ceil(3 * sigma) + 1
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    k = torch.outer(g, g)
    return (k / k.sum()).to(torch.get_default_dtype())


class Blur(LinearOperator):
    name = "deblur"

    def __init__(self, sigma: float, kernel_size: int | None = None):
        super().__init__()
        self.sigma = float(sigma)
        self.register_buffer("kernel", gaussian_kernel(sigma, kernel_size))
        # Derived from the fixed kernel, per image grid; a cache, not state.
        self._transfer_cache: dict = {}

    def _transfer(self, height: int, width: int, dtype: torch.dtype) -> Tensor:
        """The kernel's DFT on an H x W grid, centred at pixel (0, 0); shape (H, W//2+1)."""
        key = (height, width, dtype, self.kernel.device)
        if key not in self._transfer_cache:
            k = self.kernel.to(torch.float64)
            kh = min(k.shape[0], height - 1 + height % 2)
            kw = min(k.shape[1], width - 1 + width % 2)
            k = k[(k.shape[0] - kh) // 2 :][:kh, (k.shape[1] - kw) // 2 :][:, :kw]
            k = k / k.sum()
            padded = torch.nn.functional.pad(k, (0, width - kw, 0, height - kh))
            padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
            complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
            self._transfer_cache[key] = torch.fft.rfft2(padded).to(complex_dtype)
        return self._transfer_cache[key]

    def _convolve(self, x: Tensor, adjoint: bool) -> Tensor:
        h, w = x.shape[-2:]
        t = self._transfer(h, w, x.dtype).to(x.device)
        if adjoint:
            t = t.conj()
        return torch.fft.irfft2(torch.fft.rfft2(x) * t, s=(h, w))

    def A(self, x: Tensor) -> Tensor:
        return self._convolve(x, adjoint=False)

    def A_adjoint(self, y: Tensor) -> Tensor:
        return self._convolve(y, adjoint=True)

    def describe(self) -> dict:
        return {"task": self.name, "blur_sigma": self.sigma, "kernel_size": int(self.kernel.shape[0])}
