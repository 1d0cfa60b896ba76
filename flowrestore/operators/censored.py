"""Measurements clipped to [0, 1], as image files hold them: the data step of a censored likelihood.

A file stores clip(y) with y = A(x - 1/2) + 1/2 + sigma*eta. Where it holds 1 (or 0) it says only
that y >= 1 (y <= 0), not y = 1. Reading such a pixel as an exact measurement biases the data step
towards grey: the noise that clipping removed was all on one side. The Gaussian likelihood of a
clipped pixel is a tail probability, and its negative log, times sigma^2 so that it matches the
data term 1/2 (Ax - y)^2 of the other pixels, has the gradient (with u = A(x - 1/2) + 1/2)

    d/du [-sigma^2 log(1 - Phi((1 - u) / sigma))] = -sigma M((1 - u) / sigma)   where y reads 1,
    d/du [-sigma^2 log Phi(-u / sigma)]           = +sigma M(u / sigma)         where y reads 0,

with M(a) = phi(a) / (1 - Phi(a)) the inverse Mills ratio. `Censored.residual` returns that in place
of Ax - y at clipped pixels, so the unrolled solver's data step x - mu A^T r follows the censored
likelihood unchanged elsewhere (docs/method.md, "Clipped measurements").
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from flowrestore.operators.base import LinearOperator

TOLERANCE = 0.5 / 255  # a pixel within half an 8-bit step of 0 or 1 is read as clipped
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def inverse_mills(a: Tensor) -> Tensor:
    """phi(a) / (1 - Phi(a)), computed in logs and float64 so that it stays finite and accurate
    (about a + 1/a) far in the tail, where float32 loses the difference of two large logs."""
    wide = a.double()
    return torch.exp(-0.5 * wide * wide - _LOG_SQRT_2PI - torch.special.log_ndtr(-wide)).to(a.dtype)


class Censored(LinearOperator):
    """`inner`'s A for measurements clipped to [0, 1] with Gaussian noise of std `sigma` (a number or
    one per image); A and A^T are `inner`'s, only the residual of the data step changes."""

    def __init__(self, inner: LinearOperator, sigma: float | Tensor):
        super().__init__()
        self.inner = inner
        self.name = inner.name
        sigma = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1)
        if not bool((sigma > 0).all()):
            raise ValueError(f"a censored measurement needs a positive noise level, got {sigma.min().item():g}")
        self.register_buffer("sigma", sigma, persistent=False)  # (1,) or (B,)

    def A(self, x: Tensor) -> Tensor:
        return self.inner.A(x)

    def A_adjoint(self, y: Tensor) -> Tensor:
        return self.inner.A_adjoint(y)

    @property
    def blur_sigma(self) -> float | None:
        return self.inner.blur_sigma

    @property
    def mirror_symmetric(self) -> bool:
        return self.inner.mirror_symmetric  # clipping acts per pixel

    def factors(self, height: int, width: int) -> tuple[Tensor, Tensor] | None:
        return self.inner.factors(height, width)

    def at_fold(self, fold: int, folds: int) -> LinearOperator:
        inner = self.inner.at_fold(fold, folds)
        return self if inner is self.inner else Censored(inner, self.sigma)

    def residual(self, x: Tensor, y: Tensor) -> Tensor:
        r = self.inner.residual(x, y)
        u = r + y  # the noise-free measurement of x, in [0, 1] units: A(x - 1/2) + 1/2
        sigma = self.sigma.to(u).reshape(-1, *[1] * (u.dim() - 1))
        high = sigma * inverse_mills((1 - u) / sigma)
        low = sigma * inverse_mills(u / sigma)
        r = torch.where(y >= 1 - TOLERANCE, -high, r)
        return torch.where(y <= TOLERANCE, low, r)


def censored(operator: LinearOperator, sigma: float | Tensor | None) -> LinearOperator:
    """`operator` for clipped measurements with noise `sigma`; `operator` itself when there is no
    noise to speak of (sigma None or 0: a noise-free clipped pixel carries no usable tail)."""
    if sigma is None:
        return operator
    sigma = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1)
    if not bool((sigma > 0).all()):
        return operator
    return Censored(operator, sigma)
