"""How face-like an image is: its bits per dimension under the celeba-prior GLOW at the prior's framing.

An image is scored as the prior saw its training faces: the largest centred square, resized
(antialiased) to 64x64, quantised to 8 bits and dequantised at the bins' midpoints, so that a
score is deterministic and comparable with the prior's test bits/dim. Lower is more face-like.

Raw likelihood is a known weak detector of unfamiliar inputs (Nalisnick et al., 2019: flows
give simple images high likelihood), so the limits are not assumed but measured
(benchmarks/likeness_calibration.py, docs/likeness.md): restored CelebA validation faces
against restored anime faces, for each task, since each solver leaves its own texture. An image
is flagged when its score falls outside its task's band, which holds the restored CelebA
validation faces but for 2.5 % on either side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from flowrestore.flow.glow import bits_per_dim

PRIOR = "celeba-prior"
SIZE = 64  # the prior's training frame
# Task -> (low, high) bits/dim of restored CelebA validation faces, from docs/likeness.md.
BANDS: dict[str, tuple[float, float]] = {}


@dataclass(frozen=True)
class Likeness:
    bits_per_dim: float  # under the prior, at its framing; lower is more face-like
    band: tuple[float, float]  # where restored CelebA faces lie for this task; (-inf, inf) if unknown

    @property
    def unusual(self) -> bool:
        low, high = self.band
        return not low <= self.bits_per_dim <= high

    def note(self, name: str) -> str:
        low, high = self.band
        where = f"above the {high:.2f}" if self.bits_per_dim > high else f"below the {low:.2f}"
        return (
            f"{name} looks unlike the faces the model knows: {self.bits_per_dim:.2f} bits/dim under {PRIOR}, "
            f"{where} of 97.5 % of CelebA faces; check the result, and crop to the face if there is one"
        )


def framed(rgb: Tensor) -> Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 3, 64, 64): the largest centred square, resized with antialiasing."""
    h, w = rgb.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = rgb[..., top : top + side, left : left + side]
    if side == SIZE:
        return square
    return F.interpolate(square, size=(SIZE, SIZE), mode="bilinear", antialias=side > SIZE, align_corners=False)


def score(prior: nn.Module, rgb: Tensor) -> Tensor:
    """Bits per dimension (B,) of images (B, 3, H, W) in [0, 1] under `prior`, at its framing."""
    x = framed(rgb.to(next(prior.parameters()).device))
    x = (torch.round(x.clamp(0, 1) * 255) + 0.5) / 256  # 8-bit file values, dequantised at bin midpoints
    with torch.no_grad():
        return bits_per_dim(prior.log_prob(x), x[0].numel()).cpu()


def assess(prior: nn.Module, images: list[Tensor], task: str, batch_size: int = 64) -> list[Likeness]:
    """A Likeness per restored image (3, H, W) of `task`, each scored at the prior's framing."""
    band = BANDS.get(task, (-math.inf, math.inf))
    scores: list[float] = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([framed(image[None])[0] for image in images[start : start + batch_size]])
        scores += score(prior, batch).tolist()
    return [Likeness(s, band) for s in scores]
