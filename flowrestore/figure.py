"""Figures of images side by side (restore --compare, the benchmark's example rows)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def side_by_side(panels: Sequence[Tensor], gap: int = 2) -> Tensor:
    """Panels (3, H, W) in a row on a white background, `gap` pixels apart; values clipped to [0, 1]."""
    height = panels[0].shape[-2]
    width = sum(p.shape[-1] for p in panels) + gap * (len(panels) - 1)
    canvas = torch.ones(3, height, width)
    left = 0
    for p in panels:
        canvas[:, :, left : left + p.shape[-1]] = p.detach().float().cpu().clamp(0, 1)
        left += p.shape[-1] + gap
    return canvas
