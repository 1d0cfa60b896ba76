"""Image quality metrics (PSNR, SSIM) per image and the confidence interval of a mean.

Images are float arrays in [0, 1] with data range 1, as in the paper; PSNR and SSIM are
flowrestore.metrics' (Wang et al.'s SSIM settings), shared with `restore --degrade`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from flowrestore import metrics as shared


def to_hwc(images: Tensor) -> np.ndarray:
    """(B, C, H, W) tensor -> float64 array (B, H, W, C) on the CPU."""
    return images.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()


psnr = shared.psnr  # one image, peak 1; infinite for an exact match


def ssim(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Structural similarity of one (H, W, C) image pair, data range 1 (needs scikit-image)."""
    value = shared.ssim(estimate, truth, channel_axis=-1)
    if value is None:
        raise ImportError("SSIM needs scikit-image: pip install 'flowrestore[baselines]'")
    return value


def score(estimates: Tensor, truths: Tensor) -> list[tuple[float, float]]:
    """(PSNR, SSIM) of every image of a batch, after clipping the estimates to [0, 1]."""
    est = np.clip(to_hwc(estimates), 0, 1)
    ref = to_hwc(truths)
    return [(psnr(e, r), ssim(e, r)) for e, r in zip(est, ref)]


def mean_ci(values: list[float] | np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval, t_{n-1} * sd / sqrt(n).

    The sample standard deviation uses n - 1; the half-width is NaN for fewer than two values.
    """
    from scipy.stats import t

    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan
    half = float(t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, half
