"""Denoising: A is the identity."""

from torch import Tensor

from flowrestore.operators.base import LinearOperator


class Denoise(LinearOperator):
    name = "denoise"

    def A(self, x: Tensor) -> Tensor:
        return x

    def A_adjoint(self, y: Tensor) -> Tensor:
        return y

    @property
    def mirror_symmetric(self) -> bool:
        return True
