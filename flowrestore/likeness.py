"""How face-like a restored image is under the celeba-prior GLOW, and when to say it is not.

An image is scored as the prior saw its training faces: the largest centred square, resized
(antialiased) to 64x64, quantised to 8 bits and dequantised at the bins' midpoints, so that a
score is deterministic and comparable with the prior's test bits/dim.

Bits/dim alone misses simple inputs: flows give them high likelihood (Nalisnick et al., 2019),
and a flat grey square scores 2.4 bits/dim, below every CelebA face. Following Serra et al.
(2020, "Input complexity and out-of-distribution detection with likelihood-based generative
models"), a second score corrects the likelihood by the image's complexity, its lossless PNG size:

    S(x) = bits/dim under the prior - PNG bits/dim

A flat, smooth or regular image has a tiny PNG and so a high S; drawn faces (anime) score a low S
when restored from blur or holes and a high one from noise. A restoration is flagged when its
bits/dim exceeds the 97.5th percentile over restored CelebA validation faces or falls below 0.9
times their 0.5th (simpler than any restored face), or its S leaves their 2.5-97.5 % range. The limits were measured per shipped solver, since each leaves its own
texture (benchmarks/likeness_calibration.py); the false-alarm and miss rates against anime faces
are in docs/likeness.md.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torch.nn import functional as F

from flowrestore.flow.glow import bits_per_dim

PRIOR = "celeba-prior"
SIZE = 64  # the prior's training frame

# Registry solver -> (bits/dim min, bits/dim max, S min, S max) over its restorations of CelebA
# validation faces (0.9 x the 0.5th, 97.5th, 2.5th and 97.5th percentiles) at its paper setting
# (docs/likeness.md). Another solver gets the limits of its task's default model (a noise-aware denoiser:
# the noise-aware one's).
LIMITS: dict[str, tuple[float, float, float, float]] = {
    # measured under the celeba-prior of 2026-11-27 (93b1eca9..., 3.89 bits/dim on test), all 486 faces,
    # on 8-bit measurements, as users' files hold them (--8bit), restored with the censored data step
    "glow-denoise": (2.66, 4.02, -1.84, -1.05),  # 97f3a9a8... (flip self-ensemble; Wiener start; int8)
    # ... restored told sigma = 0, 0.02, 0.05, 0.1, 0.2, 0.3 in turn (its range and clean files, which its
    # measurement blend gives back nearly as they are): the union of their ranges
    "glow-denoise-aware": (2.52, 6.11, -2.38, 0.40),  # 9f449a97... (flip ensemble; Wiener start and blend; int8)
    "glow-inpaint": (2.72, 6.13, -2.10, 0.35),  # f9e6f8d1...
    # 5x5 blur, 8-bit, noise 0 / 0.01 / 0.02: the union of their ranges
    "glow-deblur": (4.78, 7.45, 0.26, 1.89),  # 6968ea9d... (flip self-ensemble)
}
# The clean CelebA validation faces themselves, by the same rule: what `restore --degrade` judges, since
# there the clean input is known (benchmarks/likeness_calibration.py --report: "clean limits", from the
# celeba-prior of 2026-11-27, 93b1eca9...; 5.6 % false alarms on the faces, 62.6 % misses on anime)
CLEAN_LIMITS = (2.48, 5.97, -2.38, 0.14)
NO_LIMITS = (-math.inf, math.inf, -math.inf, math.inf)


@dataclass(frozen=True)
class Likeness:
    bits_per_dim: float  # under the prior, at its framing; lower is more likely
    png_bits_per_dim: float  # lossless PNG size at the same framing: the image's complexity
    limits: tuple[float, float, float, float] = NO_LIMITS  # (bits/dim min, max, S min, max); see LIMITS

    @property
    def score(self) -> float:
        """S = bits/dim - PNG bits/dim: the likelihood corrected by complexity."""
        return self.bits_per_dim - self.png_bits_per_dim

    @property
    def unusual(self) -> bool:
        bpd_min, bpd_max, s_min, s_max = self.limits
        return not bpd_min <= self.bits_per_dim <= bpd_max or not s_min <= self.score <= s_max

    def note(self, name: str) -> str:
        bpd_min, bpd_max, s_min, s_max = self.limits
        faces = "CelebA faces" if self.limits == CLEAN_LIMITS else "restored CelebA faces"
        bpd, score = self.bits_per_dim, self.score
        if bpd > bpd_max:
            why = f"{apart(bpd, bpd_max)} bits/dim, above the {bpd_max:.2f} of 97.5 % of {faces}"
        elif bpd < bpd_min:
            why = (f"too simple: {apart(bpd, bpd_min)} bits/dim, below the {bpd_min:.2f} that no "
                   f"{faces.removesuffix('s')} goes under")
        elif score > s_max:
            why = (f"too simple for its likelihood: S = {apart(score, s_max)}, above the {s_max:.2f} of 97.5 % "
                   "of CelebA faces")
        else:
            why = f"S = {apart(score, s_min)}, below the {s_min:.2f} of 97.5 % of CelebA faces"
        return f"{name} looks unlike the faces the model knows ({why}, under {PRIOR}); check the result"


def apart(value: float, limit: float) -> str:
    """`value` with two decimals, or as many more (up to four) as it takes not to read as `limit`."""
    for digits in (2, 3, 4):
        if f"{value:.{digits}f}" != f"{limit:.{digits}f}":
            break
    return f"{value:.{digits}f}"


def framed(rgb: Tensor) -> Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 3, 64, 64): the largest centred square, resized with antialiasing."""
    h, w = rgb.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = rgb[..., top : top + side, left : left + side]
    if side == SIZE:
        return square
    return F.interpolate(square, size=(SIZE, SIZE), mode="bilinear", antialias=side > SIZE, align_corners=False)


def _eight_bit(x: Tensor) -> Tensor:
    return torch.round(x.clamp(0, 1) * 255)


def score(prior: nn.Module, rgb: Tensor) -> Tensor:
    """Bits per dimension (B,) of images (B, 3, H, W) in [0, 1] under `prior`, at its framing."""
    x = (_eight_bit(framed(rgb.to(next(prior.parameters()).device))) + 0.5) / 256  # bin midpoints
    with torch.no_grad():
        return bits_per_dim(prior.log_prob(x), x[0].numel()).cpu()


def png_bits_per_dim(rgb: Tensor) -> float:
    """Lossless PNG size in bits per dimension of one image (3, H, W) at the prior's framing."""
    pixels = _eight_bit(framed(rgb[None].float().cpu())[0]).permute(1, 2, 0).numpy().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return 8 * buffer.tell() / pixels.size


def limits_for(checkpoint: str | None, task: str, noise_aware: bool = False) -> tuple[float, float, float, float]:
    """The flag's limits for restorations by `checkpoint` (a registry name, or anything else) of `task`; a
    solver not in LIMITS borrows its task's default model's, or for a noise-aware denoiser (`noise_aware`:
    restoring at the levels it is told) the noise-aware one's."""
    default = "glow-denoise-aware" if task == "denoise" and noise_aware else f"glow-{task}"
    return LIMITS.get(checkpoint or "", LIMITS.get(default, NO_LIMITS))


def assess(prior: nn.Module, images: list[Tensor], task: str, batch_size: int = 64,
           checkpoint: str | None = None, noise_aware: bool = False, clean: bool = False) -> list[Likeness]:
    """A Likeness per restored image (3, H, W) of `task`, restored by `checkpoint` (see limits_for);
    with `clean`, per clean image, judged against the clean faces (CLEAN_LIMITS)."""
    limits = CLEAN_LIMITS if clean else limits_for(checkpoint, task, noise_aware)
    scores: list[float] = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([framed(image[None])[0] for image in images[start : start + batch_size]])
        scores += score(prior, batch).tolist()
    return [Likeness(s, png_bits_per_dim(image), limits) for s, image in zip(scores, images)]
