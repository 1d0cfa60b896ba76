"""Clipped measurements: the censored data step is the gradient of the censored Gaussian likelihood."""

import pytest
import torch

from flowrestore.operators import Blur, Denoise, Inpaint, LastFoldOperator, TaskSpec, quantize_8bit
from flowrestore.operators.censored import Censored, censored, inverse_mills
from flowrestore.solving import solve


def _clipped_measurement(op, shape, sigma, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    y = op.measure_clean(x) + sigma * torch.randn(shape, generator=g)
    return torch.rand(shape, generator=g), y.clamp(0, 1)  # (an estimate x, a clipped y)


def _censored_nll(u, y, sigma):
    """sigma^2 times the negative log-likelihood of clipped y given u = A(x - 1/2) + 1/2."""
    high, low = y >= 1 - 0.5 / 255, y <= 0.5 / 255
    exact = 0.5 * (u - y) ** 2
    tail_high = -sigma**2 * torch.log(torch.special.ndtr((u - 1) / sigma))
    tail_low = -sigma**2 * torch.log(torch.special.ndtr(-u / sigma))
    return torch.where(high, tail_high, torch.where(low, tail_low, exact)).sum()


@pytest.mark.parametrize("op", [Denoise(), Blur(1.5), Inpaint.centre(12, 12, 5)], ids=["denoise", "blur", "inpaint"])
def test_data_gradient_is_the_censored_likelihoods(float64, op):
    op = op.double()
    sigma = 0.25
    x, y = _clipped_measurement(op, (2, 3, 12, 12), sigma)
    assert bool((y == 1).any()) and bool((y == 0).any())
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(_censored_nll(op.measure_clean(x), y, sigma), x)
    data_grad = op.A_adjoint(Censored(op, sigma).residual(x.detach(), y))
    assert torch.allclose(data_grad, grad, atol=1e-10)


def test_unclipped_pixels_keep_the_plain_residual(float64):
    op = Blur(1.5).double()
    x, y = torch.rand(2, 3, 10, 10), 0.1 + 0.8 * torch.rand(2, 3, 10, 10)
    assert torch.equal(Censored(op, 0.2).residual(x, y), op.residual(x, y))


def test_clipped_pixels_pull_outwards_and_stay_finite():
    op = Denoise()
    u = torch.tensor([-3.0, 0.0, 0.5, 1.0, 4.0]).reshape(1, 1, 1, 5)
    top, bottom = Censored(op, 0.1).residual(u, torch.ones_like(u)), Censored(op, 0.1).residual(u, torch.zeros_like(u))
    assert bool(torch.isfinite(top).all()) and bool(torch.isfinite(bottom).all())
    assert bool((top <= 0).all()) and bool((bottom >= 0).all())  # x moves up where y reads 1, down where 0
    assert torch.allclose(top[0, 0, 0, 3], torch.tensor(-0.1 * (2 / torch.pi) ** 0.5))  # phi(0) / (1/2)
    a = torch.tensor([5.0, 30.0, 300.0], dtype=torch.float64)
    assert bool((inverse_mills(a) > a).all()) and bool((inverse_mills(a) < a + 1 / a).all())  # M(a) -> a
    assert torch.allclose(inverse_mills(a.float()), a.float(), rtol=2 / 25)  # float32 too, no cancellation


def test_one_noise_level_per_image(float64):
    op = Denoise()
    x, y = _clipped_measurement(op, (2, 3, 6, 6), 0.3)
    both = Censored(op, torch.tensor([0.125, 0.25])).residual(x, y)
    assert torch.allclose(both[:1], Censored(op, 0.125).residual(x[:1], y[:1]))
    assert torch.allclose(both[1:], Censored(op, 0.25).residual(x[1:], y[1:]))


def test_adjoint_and_folds_are_the_inner_operators(float64):
    first, last = Inpaint.centre(16, 16, 5), Inpaint.centre(16, 16, 3)
    op = Censored(LastFoldOperator(first, last), 0.1).double()
    assert op.adjointness_gap((1, 3, 16, 16)) < 1e-10
    assert op.at_fold(3, 4).inner is last and op.at_fold(0, 4).inner is first
    assert torch.equal(op.at_fold(3, 4).sigma, op.sigma)


def test_no_noise_means_no_censoring():
    op = Denoise()
    assert censored(op, None) is op and censored(op, 0.0) is op
    assert isinstance(censored(op, 0.2), Censored)
    with pytest.raises(ValueError, match="positive noise level"):
        Censored(op, 0.0)


def test_solve_censors_files_pixels_only_where_they_are_clipped():
    from cli_fixtures import tiny_solver

    model, task = tiny_solver(), TaskSpec.default("denoise")
    interior = 0.2 + 0.6 * torch.rand(1, 3, 16, 16)
    assert torch.equal(solve(model, interior, task, clipped=True), solve(model, interior, task))
    saturated = quantize_8bit(interior + 0.5 * torch.randn(1, 3, 16, 16))
    assert not torch.allclose(solve(model, saturated, task, clipped=True), solve(model, saturated, task))


def test_censored_data_term_recovers_a_saturated_patchs_level():
    """A flat patch at 0.95 under sigma = 0.2 noise clips to 1 in about 40 % of its pixels. Read as
    exact, the pixels' mean lies well below 0.95; the censored data term's minimiser over one level
    (the maximum-likelihood mean of a censored Gaussian) finds it."""
    op, sigma = Denoise(), 0.2
    g = torch.Generator().manual_seed(3)
    y = quantize_8bit(torch.full((1, 3, 32, 32), 0.95) + sigma * torch.randn(1, 3, 32, 32, generator=g))
    level = torch.tensor(0.5)
    for _ in range(300):  # gradient descent on the mean data term over a constant image
        level = level - 0.5 * Censored(op, sigma).residual(level.expand_as(y), y).mean()
    assert float(y.mean()) < 0.91
    assert abs(float(level) - 0.95) < 0.01
