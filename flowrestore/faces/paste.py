"""Take a face out of a photo at the prior's framing, and put its restoration back.

- `crop`: the frame's square of the photo (replicated past the photo's edges), resampled to 64x64:
  area averaging when the face is larger than the frame (which also averages the noise down,
  sigma / scale for i.i.d. noise), bicubic when it is smaller.
- `blend_weights`: 1 over the detector's box, falling to 0 at the frame's edges along a raised
  cosine, separably in x and y, so that the pasted face has no edge.
- `paste`: the restored face, resampled to the frame's size, is shifted per channel by the mean
  difference to the background over the blend ring (colour-consistent with what surrounds it) and
  blended in.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from flowrestore.faces.framing import FRAME, Frame, box_of


def _square(image: Tensor, frame: Frame) -> Tensor:
    """The frame's square of `image` (B, C, H, W), edge pixels replicated where it leaves the image."""
    height, width = image.shape[-2:]
    left, top, side = frame.rounded()
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + side, width), min(top + side, height)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"the face frame {frame} lies outside the {width}x{height} image")
    inside = image[..., y0:y1, x0:x1]
    pads = (x0 - left, left + side - x1, y0 - top, top + side - y1)
    return F.pad(inside, pads, mode="replicate") if any(pads) else inside


def resample(x: Tensor, side: int) -> Tensor:
    """(B, C, h, w) to (B, C, side, side): area averaging down, bicubic up (clipped to [0, 1])."""
    if x.shape[-1] == side and x.shape[-2] == side:
        return x
    if side <= min(x.shape[-2:]):
        return F.interpolate(x, size=(side, side), mode="area")
    return F.interpolate(x, size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1)


def crop(image: Tensor, frame: Frame, size: int = FRAME) -> Tensor:
    """The face in `frame` of `image` (B, C, H, W) as (B, C, size, size)."""
    return resample(_square(image, frame), size)


def crop_mask(mask: Tensor, frame: Frame, size: int = FRAME) -> Tensor:
    """An observation mask (1, 1, H, W) at the face's framing: a frame pixel is observed only when
    every photo pixel under it is."""
    return (resample(_square(mask.float(), frame), size) > 0.999).float()


def _ramp(length: int, start: float, end: float) -> Tensor:
    """At pixel centres u + 1/2: 1 on [start, end], a raised cosine down to 0 at 0 and `length`."""
    centre = torch.arange(length, dtype=torch.float32) + 0.5
    rise = (centre / max(start, 1e-6)).clamp(0, 1)
    fall = ((length - centre) / max(length - end, 1e-6)).clamp(0, 1)
    return 0.5 - 0.5 * torch.cos(math.pi * torch.minimum(rise, fall))


def blend_weights(side: int) -> Tensor:
    """(side, side) weights of a face pasted at a frame `side` pixels wide."""
    box = box_of(Frame(0.0, 0.0, float(side)))
    wx = _ramp(side, box.x, box.x + box.width)
    wy = _ramp(side, box.y, box.y + box.height)
    return wy[:, None] * wx[None, :]


def paste(base: Tensor, face: Tensor, frame: Frame, feather: bool = True, detail: bool = False) -> Tensor:
    """`base` (B, C, H, W) with `face` (B, C, s, s), restored at `frame`, blended in; a new tensor.
    With `detail`, what `base` holds above the face's resolution (base minus base taken to the
    face's resolution and back) is kept: the face brings what the prior knows at its framing, the
    base the finer detail of a face larger than the frame."""
    height, width = base.shape[-2:]
    left, top, side = frame.rounded()
    up = resample(face, side) if face.shape[-1] != side else face
    if detail and side > face.shape[-1]:
        square = _square(base, frame)
        up = up + square - resample(resample(square, face.shape[-1]), side)
    weights = blend_weights(side).to(base) if feather else torch.ones(side, side).to(base)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + side, width), min(top + side, height)
    up = up[..., y0 - top : y1 - top, x0 - left : x1 - left]
    weights = weights[y0 - top : y1 - top, x0 - left : x1 - left]
    under = base[..., y0:y1, x0:x1]
    ring = weights * (1 - weights)  # where face and background meet
    if feather and float(ring.sum()) > 0:
        offset = ((under - up) * ring).sum(dim=(-2, -1), keepdim=True) / ring.sum()
        up = (up + offset).clamp(0, 1)
    out = base.clone()
    out[..., y0:y1, x0:x1] = under + weights * (up - under)
    return out
