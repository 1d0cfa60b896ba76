"""The linear measurement operator interface: A, its exact adjoint, and a check of both."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LinearOperator(nn.Module):
    """A linear map y = A x on image batches (B, C, H, W).

    Parameters (masks, kernels) are buffers fixed at construction; noise is not part
    of A (see `flowrestore.operators.measurement`).
    """

    name: str = "operator"

    def A(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def A_adjoint(self, y: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.A(x)

    def describe(self) -> dict:
        """The operator's parameters, as plain values for reports and checkpoints."""
        return {"task": self.name}

    @torch.no_grad()
    def adjointness_gap(self, shape: tuple[int, ...], dtype=torch.float64, seed: int = 0) -> float:
        """|<Ax, y> - <x, A^T y>| / |<Ax, y>| for random x, y: zero up to rounding."""
        g = torch.Generator().manual_seed(seed)
        ref = next(iter(self.buffers()), torch.empty(0))
        x = torch.randn(shape, generator=g, dtype=dtype).to(ref.device)
        y = torch.randn(self.A(x).shape, generator=g, dtype=dtype).to(ref.device)
        lhs = torch.sum(self.A(x) * y)
        rhs = torch.sum(x * self.A_adjoint(y))
        return float(torch.abs(lhs - rhs) / torch.abs(lhs).clamp_min(1e-300))
