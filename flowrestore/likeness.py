"""How face-like an image is: its bits per dimension under the celeba-prior GLOW at the prior's framing.

An image is scored as the prior saw its training faces: the largest centred square, resized
(antialiased) to 64x64, quantised to 8 bits and dequantised at the bins' midpoints, so that a
score is deterministic and comparable with the prior's test bits/dim. Lower is more face-like.

Raw likelihood is a known weak detector of unfamiliar inputs (Nalisnick et al., 2019: flows
give simple images high likelihood), so the score and its limits were chosen by measurement
(benchmarks/likeness_calibration.py, docs/likeness.md): restored CelebA validation faces
against restored anime faces, for each task, since each solver leaves its own texture. The
restoration's bits/dim separated them best (AUROC 0.90 for denoising; the clean images' bits/dim
0.59, and with Serra et al.'s PNG-complexity correction 0.86 but only on clean images, which
`restore` never has). An image is flagged when its score exceeds its task's limit, the 95th
percentile of the restored CelebA validation faces: 5 % false alarms on those faces.
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
# Task -> the 95th percentile of restored CelebA validation faces' bits/dim (docs/likeness.md),
# for the shipped solvers at their paper settings.
LIMITS: dict[str, float] = {"denoise": 7.89}


@dataclass(frozen=True)
class Likeness:
    bits_per_dim: float  # under the prior, at its framing; lower is more face-like
    limit: float  # 95 % of restored CelebA faces score at most this for the task; inf if unknown

    @property
    def unusual(self) -> bool:
        return self.bits_per_dim > self.limit

    def note(self, name: str) -> str:
        return (
            f"{name} looks unlike the faces the model knows: {self.bits_per_dim:.2f} bits/dim under {PRIOR}, "
            f"above the {self.limit:.2f} of 95 % of restored CelebA faces; check the result"
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
    limit = LIMITS.get(task, math.inf)
    scores: list[float] = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([framed(image[None])[0] for image in images[start : start + batch_size]])
        scores += score(prior, batch).tolist()
    return [Likeness(s, limit) for s in scores]
