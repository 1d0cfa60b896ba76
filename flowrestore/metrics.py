"""Image quality against a reference: PSNR and SSIM for images in [0, 1] (data range 1).

The one definition used by `restore --degrade`, the benchmark, training's validation and
scripts/ (`psnr_each`, the same formula over a batch of tensors). SSIM is scikit-image's
implementation with Wang et al.'s settings (11x11 Gaussian window, sigma 1.5, population
covariance), averaged over the colour channels; images smaller than 11 pixels fall back to the
largest odd uniform window that fits.
"""

from __future__ import annotations

import math

import numpy as np


def _array(image) -> np.ndarray:
    if hasattr(image, "detach"):  # a torch tensor, on any device
        image = image.detach().cpu().double().numpy()
    return np.asarray(image, np.float64)


def psnr(x, reference) -> float:
    """Peak signal-to-noise ratio in dB (peak 1) of one image; inf when the images are equal."""
    mse = float(np.mean((_array(x) - _array(reference)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def psnr_each(x, reference, floor: float = 1e-12):
    """PSNR in dB (peak 1) of every image of a batch of tensors (B, ...), as a tensor (B,) on their
    device; an MSE below `floor` counts as `floor` (120 dB), so that a mean over images stays finite."""
    mse = ((x - reference) ** 2).flatten(1).mean(1)
    return -10 * mse.clamp_min(floor).log10()


def ssim_available() -> bool:
    try:
        import skimage.metrics  # noqa: F401
    except ImportError:
        return False
    return True


def ssim(x, reference, channel_axis: int = 0) -> float | None:
    """Structural similarity of one image pair, (C, H, W) by default; None when scikit-image is
    missing or the image is smaller than 3x3."""
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        return None
    a, b = _array(x), _array(reference)
    spatial = [n for axis, n in enumerate(a.shape) if axis != channel_axis % a.ndim]
    side = min(spatial)
    if side >= 11:
        options = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    elif side >= 3:
        options = {"win_size": side if side % 2 else side - 1}
    else:
        return None
    return float(structural_similarity(b, a, data_range=1.0, channel_axis=channel_axis, **options))
