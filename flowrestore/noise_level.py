"""Estimating the noise level sigma of a noisy image (for `restore` without `--sigma`).

The estimator is principal-component based (after Chen, Zhu and Heng, ICCV 2015): the noise
variance is the mean of the smallest quarter of the eigenvalues of the covariance of the image's
5x5 colour patches, where the image content contributes least. Users' files are clipped to
[0, 1] and rounded to 8 bits, which shrinks strong noise; a monotone table fitted on celeba64/val
maps the raw estimate of such a file to sigma (benchmarks/noise_estimator.py fits it and measures
the error on the test faces: docs/results/noise-estimator.md).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from flowrestore.errors import UsageError

PATCH = 5
# raw estimate (median over 150 celeba64/val faces, 8-bit clipped) -> true sigma, sigma = 0 .. 0.40
CALIBRATION_RAW = (0.0025, 0.0193, 0.0373, 0.0547, 0.0715, 0.0875, 0.1028, 0.1176, 0.132, 0.1457, 0.1591,
                   0.1719, 0.1844, 0.1961, 0.2075, 0.2184, 0.2285, 0.2383, 0.2476, 0.2565, 0.2648)
CALIBRATION_SIGMA = tuple(round(0.02 * i, 2) for i in range(len(CALIBRATION_RAW)))


def raw_estimate(y: Tensor) -> Tensor:
    """The uncalibrated PCA estimate for each image of y (B, C, H, W) in [0, 1]; shape (B,)."""
    out = []
    for image in y.to(torch.float64):
        height, width = image.shape[-2:]
        count = (height - PATCH + 1) * (width - PATCH + 1) if min(height, width) >= PATCH else 0
        if count < 2 * image.shape[0] * PATCH**2:  # fewer patches than twice their dimension
            raise UsageError(f"the image is too small to estimate its noise ({height}x{width}); pass --sigma")
        eigenvalues = torch.linalg.eigvalsh(patch_covariance(image))
        out.append(eigenvalues[: eigenvalues.shape[0] // 4].mean().clamp_min(0).sqrt())
    return torch.stack(out).to(y.dtype)


def patch_covariance(image: Tensor, patches_per_band: int = 1 << 18) -> Tensor:
    """The covariance (C * PATCH^2, C * PATCH^2) of all PATCH x PATCH patches of `image` (C, H, W).

    Accumulated over bands of rows, so that memory stays at about `patches_per_band` patches
    whatever the image's size (a 12-megapixel photo's patches at once would take 14 GB).
    """
    height, width = image.shape[-2:]
    rows = max(1, patches_per_band // (width - PATCH + 1))  # patch rows per band
    dimension = image.shape[0] * PATCH**2
    total = torch.zeros(dimension, dtype=image.dtype, device=image.device)
    products = torch.zeros(dimension, dimension, dtype=image.dtype, device=image.device)
    for top in range(0, height - PATCH + 1, rows):
        band = image[:, top : min(top + rows, height - PATCH + 1) + PATCH - 1]
        patches = F.unfold(band[None], PATCH).squeeze(0)  # (dimension, patches in the band)
        total += patches.sum(1)
        products += patches @ patches.T
    count = (height - PATCH + 1) * (width - PATCH + 1)
    mean = total / count
    return products / count - torch.outer(mean, mean)


def _interp(v: Tensor, xs: tuple[float, ...], ys: tuple[float, ...]) -> Tensor:
    """Piecewise-linear interpolation, extended linearly beyond the last point."""
    x, y = torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)
    v = v.to(torch.float64)
    i = torch.searchsorted(x, v).clamp(1, len(xs) - 1)
    t = (v - x[i - 1]) / (x[i] - x[i - 1])
    return (y[i - 1] + t * (y[i] - y[i - 1])).clamp_min(0)


def estimate_sigma(y: Tensor, clipped: bool | None = None) -> Tensor:
    """sigma of the noise in each image of y (B, C, H, W), on the [0, 1] scale; shape (B,).

    `clipped`: y was clipped to [0, 1] (and rounded), as every image file is; False for
    simulated measurements that were not. None decides per image: noisy values outside [0, 1]
    mean it was not clipped.
    """
    raw = raw_estimate(y)
    calibrated = _interp(raw, CALIBRATION_RAW, CALIBRATION_SIGMA).to(y.dtype)
    if clipped is None:
        inside = (y.flatten(1).min(1).values >= 0) & (y.flatten(1).max(1).values <= 1)
        return torch.where(inside, calibrated, raw)
    return calibrated if clipped else raw
