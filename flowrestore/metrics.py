"""Image quality against a reference: PSNR and SSIM for images in [0, 1] (data range 1).

The one definition used by `restore --degrade`, the benchmark, training's validation and
scripts/ (`psnr_each`, the same formula over a batch of tensors). SSIM is scikit-image's
implementation with Wang et al.'s settings (11x11 Gaussian window, sigma 1.5, population
covariance), averaged over the colour channels; images smaller than 11 pixels fall back to the
largest odd uniform window that fits. Large images are scored in strips of rows, each with the
window's reach of context on both sides, so that the score is the whole image's (to rounding)
while scikit-image's float64 maps stay the size of a strip, not of a 12-megapixel photo.
"""

from __future__ import annotations

import math

import numpy as np


def _array(image, dtype=np.float64) -> np.ndarray:
    """A numpy array of `dtype`; dtype None keeps a floating array's own precision."""
    if hasattr(image, "detach"):  # a torch tensor, on any device
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if dtype is None:
        dtype = image.dtype if np.issubdtype(image.dtype, np.floating) else np.float32
    return image.astype(dtype, copy=False)


def psnr(x, reference) -> float:
    """Peak signal-to-noise ratio in dB (peak 1) of one image; inf when the images are equal.
    Summed in float64 a block at a time, so a large photo costs no float64 copy of itself."""
    a, b = _array(x, None).reshape(-1), _array(reference, None).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"PSNR of images of different sizes: {a.size} and {b.size} values")
    block = 1 << 20
    total = sum(float(np.sum((a[i : i + block].astype(np.float64) - b[i : i + block]) ** 2))
                for i in range(0, a.size, block))
    mse = total / max(a.size, 1)
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
    # float32 here: a large image goes to float64 a strip at a time (12 megapixels: 144 MB, not 288)
    a, b = _array(x, None), _array(reference, None)
    spatial = [n for axis, n in enumerate(a.shape) if axis != channel_axis % a.ndim]
    side = min(spatial)
    if side >= 11:
        options = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    elif side >= 3:
        options = {"win_size": side if side % 2 else side - 1}
    else:
        return None
    if not options.get("gaussian_weights") or a.size <= STRIP_FROM:
        a, b = a.astype(np.float64), b.astype(np.float64)
        return float(structural_similarity(b, a, data_range=1.0, channel_axis=channel_axis, **options))
    return _ssim_in_strips(np.moveaxis(a, channel_axis, -1), np.moveaxis(b, channel_axis, -1), options)


STRIP_FROM = 3 * 1024 * 1024  # values; larger images are scored in strips of STRIP_ROWS rows
STRIP_ROWS = 256
CROP = 5  # scikit-image leaves out (win_size - 1) // 2 = 5 pixels at each edge of the SSIM map
REACH = 12  # rows of context: more than the Gaussian filter's radius (int(3.5 * 1.5 + 0.5) = 5)


def _ssim_in_strips(a: np.ndarray, b: np.ndarray, options: dict, rows: int | None = None) -> float:
    """The mean SSIM of (H, W, C) images, computed strip by strip of rows; equal to scikit-image's
    whole-image mean, whose map excludes CROP pixels at every edge."""
    from skimage.metrics import structural_similarity

    height, width = a.shape[:2]
    rows = rows or STRIP_ROWS
    total, count = 0.0, 0
    for top in range(CROP, height - CROP, rows):
        bottom = min(top + rows, height - CROP)  # the map rows this strip contributes
        lo, hi = max(top - REACH, 0), min(bottom + REACH, height)
        strip_a, strip_b = a[lo:hi].astype(np.float64), b[lo:hi].astype(np.float64)
        _, full = structural_similarity(strip_b, strip_a, data_range=1.0, channel_axis=-1, full=True, **options)
        kept = full[top - lo : bottom - lo, CROP : width - CROP]
        total += float(kept.sum(dtype=np.float64))
        count += kept.size
    return total / count
