"""Inpainting: A keeps the observed pixels and zeroes the missing ones (a diagonal 0/1 map).

On centred images a zero is 1/2 grey in [0, 1] units, so a simulated hole reads as grey.
"""

from __future__ import annotations

import torch
from torch import Tensor

from flowrestore.errors import UsageError
from flowrestore.operators.base import LinearOperator


def centre_box_mask(height: int, width: int, box: int) -> Tensor:
    """1 where a pixel is observed, 0 inside the centred box x box square; shape (1, 1, H, W).

    For 64x64 and box 19 the hole covers rows and columns 22..40 inclusive, as in
    Asim et al. and the paper's Table I.
    """
    if not 0 < box <= min(height, width):
        raise UsageError(f"mask box {box} does not fit a {height}x{width} image")
    mask = torch.ones(1, 1, height, width)
    top = (height - box) // 2
    left = (width - box) // 2
    mask[..., top : top + box, left : left + box] = 0
    return mask


class Inpaint(LinearOperator):
    """y = mask * x, with mask (1|B, 1|C, H, W) of ones (observed) and zeros (missing)."""

    name = "inpaint"

    def __init__(self, mask: Tensor):
        super().__init__()
        if mask.dim() == 2:
            mask = mask[None, None]
        if mask.dim() != 4:
            raise ValueError(f"mask must have shape (H, W) or (B, C, H, W), got {tuple(mask.shape)}")
        self.register_buffer("mask", (mask > 0.5).to(torch.get_default_dtype()))

    @classmethod
    def centre(cls, height: int = 64, width: int = 64, box: int = 19) -> "Inpaint":
        op = cls(centre_box_mask(height, width, box))
        op.box = box
        return op

    def _check(self, x: Tensor) -> None:
        if x.shape[-2:] != self.mask.shape[-2:]:
            raise UsageError(
                f"mask is {self.mask.shape[-2]}x{self.mask.shape[-1]} but the image is "
                f"{x.shape[-2]}x{x.shape[-1]}; give a mask of the image's size"
            )

    def A(self, x: Tensor) -> Tensor:
        self._check(x)
        return x * self.mask.to(x.dtype)

    def A_adjoint(self, y: Tensor) -> Tensor:
        return self.A(y)

    @property
    def mirror_symmetric(self) -> bool:
        """Only for a mask that is its own mirror: the centre 19x19 box of a 64-wide image is not (its
        columns 22..40 mirror to 23..41)."""
        return bool(torch.equal(self.mask, self.mask.flip(-1)))
