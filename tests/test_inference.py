"""The folded inference flow: equal to GLOW's layers, used only at eval under no_grad, and
rebuilt whenever the weights change."""

import pytest
import torch
from helpers import perturbed_glow

from flowrestore.flow import Glow, GlowConfig
from flowrestore.flow.inference import inference_flow
from flowrestore.operators import Denoise, measure
from flowrestore.solver import SolverConfig, UnrolledSolver

TINY = GlowConfig(channels=3, levels=2, depth=2, hidden=8)


def _glow(x: torch.Tensor) -> Glow:
    """A tiny GLOW with ActNorm initialised and every weight moved off its initial value."""
    return perturbed_glow(x, 0.1)


def test_folded_encode_and_decode_equal_the_layers(float64):
    x = torch.rand(3, 3, 16, 8)
    glow = _glow(x)
    folded = inference_flow(glow)
    for ours, theirs in zip(folded.encode(x), glow.encode(x)):
        assert torch.allclose(ours, theirs, atol=1e-12)
    z = tuple(torch.randn_like(t) for t in glow.encode(x))
    assert torch.allclose(folded.decode(tuple(t.clone() for t in z)), glow.decode(z), atol=1e-12)


def test_solver_at_eval_under_no_grad_equals_the_layers_within_float_tolerance():
    x = torch.rand(4, 3, 16, 16)
    solver = UnrolledSolver.from_prior(_glow(x), SolverConfig(folds=3, init_shrinkage=0.2))
    y = measure(x, Denoise(), 0.1, seed=1)
    with torch.no_grad():
        layers = solver.train()(y, Denoise())
        folded = solver.eval()(y, Denoise())
    assert all(prox.flow.__dict__.get("_inference_cache", (None, None))[1] for prox in solver.proxes)
    assert torch.allclose(folded, layers, atol=1e-5)


def test_training_never_uses_the_folded_flow():
    x = torch.rand(2, 3, 8, 8)
    solver = UnrolledSolver.from_prior(_glow(x), SolverConfig(folds=2), memory_saving=False)
    solver.eval()
    ((solver(x, Denoise()) - x) ** 2).mean().backward()  # eval but with grad: the layers, with gradients
    assert all(p.grad is not None for p in solver.parameters() if p.requires_grad)
    assert not any("_inference_cache" in prox.flow.__dict__ for prox in solver.proxes)


def test_the_folded_flow_follows_every_weight_change(float64):
    x = torch.rand(2, 3, 8, 8)
    glow = _glow(x)
    first = inference_flow(glow)
    assert inference_flow(glow) is first  # cached while the weights stay
    optimizer = torch.optim.SGD(glow.parameters(), lr=0.1)
    (-glow.log_prob(x).mean()).backward()
    optimizer.step()  # in place
    second = inference_flow(glow)
    assert second is not first
    assert torch.allclose(second.encode(x)[-1], glow.encode(x)[-1], atol=1e-12)
    other = _glow(x)
    glow.load_state_dict(other.state_dict())  # copies in place
    assert torch.allclose(inference_flow(glow).encode(x)[-1], other.encode(x)[-1], atol=1e-12)


def test_no_folded_flow_before_actnorm_is_initialised():
    glow = Glow(TINY)
    assert inference_flow(glow) is None
    with torch.no_grad():
        glow(torch.rand(2, 3, 8, 8))
    assert inference_flow(glow) is not None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_folded_flow_keeps_the_model_dtype(dtype):
    glow = _glow(torch.rand(2, 3, 8, 8)).to(dtype)
    z = inference_flow(glow).encode(torch.rand(2, 3, 8, 8, dtype=dtype))
    assert all(t.dtype == dtype for t in z)


def test_noise_conditioned_solver_folded_equals_the_layers_per_image():
    x = torch.rand(3, 3, 8, 8)
    config = SolverConfig(folds=2, init_shrinkage=0.2, noise_conditioned=True)
    solver = UnrolledSolver.from_prior(_glow(x), config)
    with torch.no_grad():
        solver.shrinkage_slope.fill_(0.5)
        sigma = torch.tensor([0.05, 0.2, 0.4])
        layers = solver.train()(x, Denoise(), sigma=sigma)
        folded = solver.eval()(x, Denoise(), sigma=sigma)
    assert torch.allclose(folded, layers, atol=1e-5)
