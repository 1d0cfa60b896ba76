"""The linear measurement operator interface: A, its exact adjoint, and a check of both.

Operators act on *centred* images x - 1/2, the flow's own coordinates ([-1/2, 1/2]), as in the
paper: a measurement in [0, 1] units is y = A(x - 1/2) + 1/2 (+ noise). For the identity and for
any blur whose kernel sums to one with periodic boundaries this is the same as y = A x; it
matters where A does not preserve constants: the zero-padded blur darkens nothing towards black
(its border fades to 1/2 grey), and an inpainting hole reads as 1/2 grey.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

CENTRE = 0.5  # images in [0, 1] are centred by this before A


class LinearOperator(nn.Module):
    """A linear map y = A x on centred image batches (B, C, H, W).

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

    def measure_clean(self, x: Tensor) -> Tensor:
        """The noise-free measurement of images x in [0, 1], in [0, 1] units: A(x - 1/2) + 1/2."""
        return self.A(x - CENTRE) + CENTRE

    def residual(self, x: Tensor, y: Tensor) -> Tensor:
        """A x - y in centred coordinates, for images x and measurements y both in [0, 1] units."""
        return self.A(x - CENTRE) - (y - CENTRE)

    def back_project(self, y: Tensor) -> Tensor:
        """A^T y in [0, 1] units: the baselines' initial guess."""
        return self.A_adjoint(y - CENTRE) + CENTRE

    def at_fold(self, fold: int, folds: int) -> "LinearOperator":
        """The operator that fold `fold` of `folds` uses; the same one for every fold by default."""
        return self

    def factors(self, height: int, width: int) -> tuple[Tensor, Tensor] | None:
        """(F_h (H, H), F_w (W, W)) with A x = F_h x F_w^T per channel, for a separable A; else None."""
        return None

    @property
    def blur_sigma(self) -> float | None:
        """The blur's sigma_b for a blur operator (what a blur-conditioned solver reads); else None."""
        return None

    @property
    def mirror_symmetric(self) -> bool:
        """Whether A commutes with mirroring left to right, so that the mirror of a measurement is the
        measurement of the mirrored image (what a flip self-ensemble needs); False unless known."""
        return False

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


class LastFoldOperator(LinearOperator):
    """`first` for folds 1..K-1 and `last` for fold K (Table III's 16x16 inpainting, section V-B).

    As a plain operator (measurement, non-unrolled methods) it is `last`, the operator that
    measured y.
    """

    def __init__(self, first: LinearOperator, last: LinearOperator):
        super().__init__()
        self.first, self.last = first, last
        self.name = last.name

    def A(self, x: Tensor) -> Tensor:
        return self.last.A(x)

    def A_adjoint(self, y: Tensor) -> Tensor:
        return self.last.A_adjoint(y)

    def at_fold(self, fold: int, folds: int) -> LinearOperator:
        return self.last if fold == folds - 1 else self.first

    @property
    def mirror_symmetric(self) -> bool:
        return self.first.mirror_symmetric and self.last.mirror_symmetric
