"""The noise-level estimator on synthetic noise of known sigma (bundled faces, as files hold them)."""

import pytest
import torch

from flowrestore.benchmark.datasets import load_images
from flowrestore.noise_level import estimate_sigma, patch_covariance, raw_estimate
from flowrestore.operators import gaussian_noise, quantize_8bit


@pytest.fixture(scope="module")
def faces():
    return load_images("celeba", limit=8).images


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1, 0.2, 0.3])
def test_estimate_of_8_bit_clipped_noise(faces, sigma):
    noise = torch.stack([gaussian_noise(tuple(faces.shape[1:]), sigma, 100 + i) for i in range(len(faces))])
    y = quantize_8bit(faces + noise)
    estimate = estimate_sigma(y)
    assert ((estimate - sigma).abs() / sigma).mean() < 0.1, estimate


def test_unclipped_measurements_are_recognised(faces):
    noise = torch.stack([gaussian_noise(tuple(faces.shape[1:]), 0.2, 7 + i) for i in range(len(faces))])
    y = faces + noise  # not clipped: values outside [0, 1]
    assert torch.equal(estimate_sigma(y), raw_estimate(y))
    assert ((estimate_sigma(y) - 0.2).abs() / 0.2).mean() < 0.12
    # clipping shrinks strong noise; the calibration undoes it
    clipped = quantize_8bit(y)
    assert raw_estimate(clipped).mean() < 0.18 < estimate_sigma(clipped).mean()


def test_a_clean_image_has_almost_no_noise(faces):
    assert estimate_sigma(faces).max() < 0.02


def test_too_small_images_are_refused():
    with pytest.raises(ValueError, match="too small"):
        estimate_sigma(torch.rand(1, 3, 8, 8))


def test_the_patch_covariance_is_the_same_in_bands_as_at_once():
    image = torch.rand(3, 23, 17, dtype=torch.float64)
    patches = torch.nn.functional.unfold(image[None], 5).squeeze(0).T
    centred = patches - patches.mean(0)
    expected = centred.T @ centred / centred.shape[0]
    for per_band in (1, 13, 40, 10**6):  # one patch row per band (and less), a few rows, the whole image
        assert torch.allclose(patch_covariance(image, per_band), expected, rtol=0, atol=1e-14)
