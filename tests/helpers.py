"""Shared test fixtures' building blocks: tiny image folders and tiny configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from flowrestore.flow import GlowConfig

TINY_GLOW = GlowConfig(channels=3, levels=2, depth=2, hidden=8)


def write_images(folder: Path, n: int, size: int = 16, seed: int = 0, suffix: str = ".png") -> Path:
    """Smooth random colour images (gradients and a sinusoid), easy to learn and to restore."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        a = rng.random(4)
        img = np.stack([a[0] * xx + 0.2, a[1] * yy + 0.3, 0.5 + 0.3 * np.sin(6 * a[2] * xx + a[3])], -1)
        Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8)).save(folder / f"img_{i:03d}{suffix}")
    return folder


def perturbed_glow(x, scale: float):
    """The tiny GLOW with ActNorm initialised on x and every weight moved off its initial value."""
    import torch

    from flowrestore.flow import Glow

    glow = Glow(TINY_GLOW)
    glow(x)
    with torch.no_grad():
        for p in glow.parameters():
            p.add_(scale * torch.randn_like(p))
    return glow
