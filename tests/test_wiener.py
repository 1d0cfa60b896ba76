"""The Wiener initial guess (flowrestore.solver.wiener): the MMSE estimate under a stationary Gaussian prior."""

import pytest
import torch
from helpers import perturbed_glow

from flowrestore.operators import Denoise, Inpaint, measure
from flowrestore.serialization import load_model, save_model
from flowrestore.solver import SolverConfig, UnrolledSolver
from flowrestore.solver.wiener import fit_spectrum, spectrum_on_grid, wiener


def _white(variances, radii=(0.0, 0.3, 0.7)):
    """A table for independent channels of flat (white) spectra: S(f) = diag(variances) at every f."""
    a, b, c = variances
    return tuple((r, a, 0.0, 0.0, b, 0.0, c) for r in radii)


def test_a_white_prior_shrinks_each_channel_towards_its_mean_by_s_over_s_plus_sigma_squared(float64):
    y = torch.rand(2, 3, 10, 14)
    mean, variances = (0.4, 0.5, 0.6), (0.01, 0.04, 0.09)
    sigma = torch.tensor([0.1, 0.3])
    x0 = wiener(y, mean, _white(variances), sigma)
    c = torch.tensor(mean)[None, :, None, None]
    s = torch.tensor(variances)[None, :, None, None]
    expected = c + s / (s + sigma[:, None, None, None] ** 2) * (y - c)
    assert torch.allclose(x0, expected, atol=1e-12)


def test_no_noise_keeps_the_image_and_overwhelming_noise_gives_the_mean_colour(float64):
    x = torch.rand(80, 3, 16, 16)
    mean, table = fit_spectrum(x, bins=8)
    y = torch.rand(2, 3, 24, 40)  # another size than the fitted one: the table holds for any grid
    x0 = wiener(y, mean, table, torch.tensor([0.0, 1e4]))
    assert torch.allclose(x0[0], y[0], atol=1e-9)
    assert torch.allclose(x0[1], torch.tensor(mean)[:, None, None].expand(3, 24, 40), atol=1e-6)


def test_the_fitted_spectrum_is_the_images_covariance_per_radius(float64):
    # independent pixels, channel 1 = 2 x channel 0 + its own noise: flat spectra with a known 3x3 covariance
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 1, 16, 16, generator=g, dtype=torch.float64)
    b = 2 * a + torch.randn(400, 1, 16, 16, generator=g, dtype=torch.float64)
    c = 0.5 * torch.randn(400, 1, 16, 16, generator=g, dtype=torch.float64)
    x = 0.5 + 0.05 * torch.cat([a, b, c], 1)
    mean, table = fit_spectrum(x, bins=6)
    covariance = 0.05**2 * torch.tensor([[1.0, 2, 0], [2, 5, 0], [0, 0, 0.25]], dtype=torch.float64)
    assert mean == pytest.approx((0.5, 0.5, 0.5), abs=2e-3)
    radii = [row[0] for row in table]
    assert radii == sorted(radii) and 0 <= radii[0] and radii[-1] <= 0.5**0.5
    s = spectrum_on_grid(table, 16, 16)
    assert torch.allclose(s, s.transpose(-1, -2))
    assert torch.allclose(s.mean((0, 1)), covariance, atol=0.05 * covariance.abs().max())


def test_a_wiener_started_solver_starts_there_round_trips_and_refuses_other_operators(float64, tmp_path):
    x = torch.rand(2, 3, 8, 8)
    mean, table = fit_spectrum(torch.rand(30, 3, 8, 8), bins=4)
    config = SolverConfig(folds=2, initial_guess="wiener", wiener_mean=list(mean),
                          wiener_spectrum=[list(row) for row in table])
    assert config.wiener_mean == mean and config.wiener_spectrum == table  # lists, as JSON gives them back, are tuples
    solver = UnrolledSolver.from_prior(perturbed_glow(x, 0.05), config)
    y = measure(x, Denoise(), 0.1, seed=1)
    # the told noise level per image, else the reference level
    assert torch.equal(solver.initial_guess(y, Denoise(), sigma=0.1), wiener(y, mean, table, torch.full((2,), 0.1)))
    assert torch.equal(solver.initial_guess(y, Denoise()), wiener(y, mean, table, torch.full((2,), 0.2)))
    with pytest.raises(ValueError, match="Wiener estimate of a noisy image"):
        solver(y, Inpaint.centre(8, 8, 3))
    save_model(tmp_path / "wiener.safetensors", solver)
    again = load_model(tmp_path / "wiener.safetensors").model
    assert again.config == solver.config
    with torch.no_grad():
        assert torch.equal(again(y, Denoise()), solver(y, Denoise()))
    with pytest.raises(ValueError, match="no fitted spectrum"):
        UnrolledSolver.from_prior(perturbed_glow(x, 0.05), SolverConfig(folds=2, initial_guess="wiener"))(y, Denoise())


def test_a_noise_aware_denoiser_can_blend_its_output_with_its_wiener_start(float64):
    x = torch.rand(3, 3, 8, 8)
    mean, table = fit_spectrum(torch.rand(30, 3, 8, 8), bins=4)
    common = dict(folds=2, initial_guess="wiener", wiener_mean=mean, wiener_spectrum=table, noise_conditioned=True,
                  sigma_floor=0.02)
    plain = UnrolledSolver.from_prior(perturbed_glow(x, 0.05), SolverConfig(**common))
    eps = 0.03
    towards = {}
    for target in ("measurement", "wiener"):
        towards[target] = UnrolledSolver.from_prior(perturbed_glow(x, 0.05), SolverConfig(
            **common, blend_error=eps, blend_power=3.0, blend_towards=target))
        towards[target].load_state_dict(plain.state_dict())
    y = measure(x, Denoise(), 0.05, seed=3)
    sigma = torch.tensor([0.001, 0.05, 5.0])
    w = (1 / (1 + (sigma / eps) ** 3))[:, None, None, None]
    with torch.no_grad():
        x_hat, start = plain(y, Denoise(), sigma=sigma), wiener(y, mean, table, sigma)
        assert torch.allclose(towards["measurement"](y, Denoise(), sigma=sigma), x_hat + w * (y - x_hat))
        out = towards["wiener"](y, Denoise(), sigma=sigma)
        assert torch.allclose(out, x_hat + w * (start - x_hat))
        assert not torch.allclose(out, towards["measurement"](y, Denoise(), sigma=sigma))
        # nearly noise-free: the Wiener estimate is nearly y, and so is the output; strong noise: the folds' own
        assert (out[0] - y[0]).abs().max() < 0.01 and torch.allclose(out[2], x_hat[2], atol=1e-4)
    with pytest.raises(ValueError, match="starts from it"):
        SolverConfig(noise_conditioned=True, blend_error=eps, blend_towards="wiener")
    with pytest.raises(ValueError, match="unknown blend target"):
        SolverConfig(**common, blend_error=eps, blend_towards="noisy")
