"""Image quality against a reference: PSNR and SSIM for images in [0, 1] (data range 1)."""

from __future__ import annotations

import math

from torch import Tensor


def psnr(x: Tensor, reference: Tensor) -> float:
    """Peak signal-to-noise ratio in dB of (C, H, W) images in [0, 1]; inf when they are equal."""
    mse = float(((x.double() - reference.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def ssim_available() -> bool:
    try:
        import skimage.metrics  # noqa: F401
    except ImportError:
        return False
    return True


def ssim(x: Tensor, reference: Tensor) -> float | None:
    """Structural similarity of (C, H, W) images in [0, 1] (scikit-image's Gaussian-free default,
    7x7 windows, smaller on tiny images); None when scikit-image is missing or the image is
    smaller than 3x3."""
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        return None
    side = min(x.shape[-2:])
    window = min(7, side if side % 2 else side - 1)
    if window < 3:
        return None
    a = x.detach().double().cpu().numpy()
    b = reference.detach().double().cpu().numpy()
    return float(structural_similarity(a, b, data_range=1.0, channel_axis=0, win_size=window))
