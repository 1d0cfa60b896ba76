"""Gaussian deblurring: A convolves each channel with a normalised Gaussian kernel.

Two boundary conditions:
- "zero" (the default, the paper's operator as its figures show it, see docs/method.md): a
  "same" convolution with zero padding of the centred image, i.e. y = k * (x - 1/2) + 1/2
  in [0, 1] units, with a 5x5 kernel for every sigma_b. A is a direct convolution and A^T the
  transposed one, exact for any image size.
- "periodic": a circular convolution, applied in the Fourier domain on the image's own grid,
  which keeps A's largest singular value at 1. This was flowrestore's operator before
  version 0.2, with a 2*ceil(3*sigma)+1 kernel (31x31 for sigma_b = 5); the kernel is cropped
  to the image when the image is smaller.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from flowrestore.errors import UsageError
from flowrestore.operators.base import LinearOperator
from flowrestore.tasks import BOUNDARIES


def gaussian_kernel(sigma: float, size: int | None = None) -> Tensor:
    """Normalised 2-D Gaussian, shape (size, size), size odd (default 2*ceil(3*sigma)+1)."""
    if sigma <= 0:
        raise UsageError(f"blur sigma must be positive, got {sigma}")
    if size is None:
        size = 2 * math.ceil(3 * sigma) + 1
    if size < 1 or size % 2 == 0:
        raise UsageError(f"the blur kernel size must be a positive odd number, got {size}")
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    k = torch.outer(g, g)
    return (k / k.sum()).to(torch.get_default_dtype())


class Blur(LinearOperator):
    name = "deblur"

    def __init__(self, sigma: float, kernel_size: int | None = 5, boundary: str = "zero"):
        super().__init__()
        if boundary not in BOUNDARIES:
            raise UsageError(f"unknown blur boundary {boundary!r}; choose one of {', '.join(BOUNDARIES)}")
        self.sigma = float(sigma)
        self.boundary = boundary
        self.register_buffer("kernel", gaussian_kernel(sigma, kernel_size))
        # Derived from the fixed kernel, per image grid; a cache, not state.
        self._transfer_cache: dict = {}

    @property
    def blur_sigma(self) -> float:
        return self.sigma

    @property
    def mirror_symmetric(self) -> bool:
        return True  # a centred Gaussian kernel is its own mirror, and both boundaries are symmetric

    def factors(self, height: int, width: int) -> tuple[Tensor, Tensor]:
        """The 1-D blurs along H and W (the Gaussian is separable): A x = F_h x F_w^T per channel,
        with the same boundary (and, when periodic, the same cropping to the grid) as A."""
        return self._factor(height, 0), self._factor(width, 1)

    def _factor(self, n: int, axis: int) -> Tensor:
        marginal = self.kernel.to(torch.float64).sum(1 - axis)  # k = outer(g, g) / sum: g up to scale
        if self.boundary == "periodic":  # cropped to the grid as `_transfer` does
            side = min(marginal.numel(), n - 1 + n % 2)
            marginal = marginal[(marginal.numel() - side) // 2 :][:side]
        marginal = marginal / marginal.sum()
        radius = marginal.numel() // 2
        f = torch.zeros(n, n, dtype=torch.float64)
        rows = torch.arange(n)
        for t, weight in enumerate(marginal.tolist()):
            cols = rows + t - radius
            if self.boundary == "periodic":
                f[rows, cols % n] += weight
            else:
                keep = (cols >= 0) & (cols < n)
                f[rows[keep], cols[keep]] += weight
        return f

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

    def _circular(self, x: Tensor, adjoint: bool) -> Tensor:
        h, w = x.shape[-2:]
        t = self._transfer(h, w, x.dtype).to(x.device)
        if adjoint:
            t = t.conj()
        return torch.fft.irfft2(torch.fft.rfft2(x) * t, s=(h, w))

    def _weight(self, x: Tensor) -> Tensor:
        """The kernel as a depthwise conv2d weight (C, 1, k, k)."""
        c = x.shape[1]
        return self.kernel.to(x.dtype)[None, None].expand(c, 1, -1, -1)

    def A(self, x: Tensor) -> Tensor:
        if self.boundary == "periodic":
            return self._circular(x, adjoint=False)
        pad = self.kernel.shape[-1] // 2
        return F.conv2d(x, self._weight(x), padding=pad, groups=x.shape[1])

    def A_adjoint(self, y: Tensor) -> Tensor:
        if self.boundary == "periodic":
            return self._circular(y, adjoint=True)
        pad = self.kernel.shape[-1] // 2
        return F.conv_transpose2d(y, self._weight(y), padding=pad, groups=y.shape[1])
