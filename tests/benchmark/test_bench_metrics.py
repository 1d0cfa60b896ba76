"""Metrics agree with independent implementations; the confidence interval is Student's t."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from skimage.metrics import peak_signal_noise_ratio

from flowrestore.benchmark.metrics import mean_ci, psnr, score, ssim


def _pairs(smooth_image):
    rng = np.random.default_rng(0)
    for seed in (1, 2):
        x = smooth_image(seed)
        yield x, np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)


def test_psnr_matches_scikit_image(smooth):
    for x, y in _pairs(smooth):
        assert psnr(y, x) == pytest.approx(peak_signal_noise_ratio(x, y, data_range=1.0), rel=1e-12)
    assert psnr(x, x) == math.inf


def test_ssim_matches_torchmetrics(smooth):
    """torchmetrics averages its SSIM map over the whole (reflect-padded) image, scikit-image
    over the part where the 11x11 window fits; compared on that part they agree."""
    tm = pytest.importorskip("torchmetrics.functional.image")
    for x, y in _pairs(smooth):
        _, full = tm.structural_similarity_index_measure(
            torch.from_numpy(y).permute(2, 0, 1)[None], torch.from_numpy(x).permute(2, 0, 1)[None],
            gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0, return_full_image=True,
        )
        assert ssim(y, x) == pytest.approx(float(full[..., 5:-5, 5:-5].mean()), abs=1e-6)


def test_ssim_is_one_for_equal_images_and_falls_with_noise(smooth):
    x, y = next(_pairs(smooth))
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(y, x) == pytest.approx(ssim(x, y))
    assert 0 < ssim(np.clip(x + 0.3 * (y - x), 0, 1), x) < 1
    assert ssim(np.clip(x + 0.3 * (y - x), 0, 1), x) > ssim(y, x)


def test_score_clips_estimates_to_the_image_range(smooth):
    x = torch.from_numpy(smooth(3)).permute(2, 0, 1)[None].float()
    (p, s), = score(x + 5.0, x)  # everything clips to 1
    assert p == pytest.approx(psnr(np.ones((32, 32, 3)), x[0].permute(1, 2, 0).double().numpy()))


def test_confidence_interval_is_the_t_interval():
    values = [24.1, 25.3, 23.8, 26.0, 24.9, 25.5]
    mean, half = mean_ci(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert mean - half == pytest.approx(low) and mean + half == pytest.approx(high)
    assert math.isnan(mean_ci([1.0])[1])
