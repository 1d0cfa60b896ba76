"""Unrolled solver: memory-saving gradients, shapes, data-misfit reduction, save/load."""

import json

import pytest
import torch
from helpers import perturbed_glow
from torch.profiler import ProfilerActivity, profile

from flowrestore.flow import GlowConfig
from flowrestore.operators import Blur, Denoise, Inpaint, measure
from flowrestore.serialization import load_model, save_model
from flowrestore.solver import ResNetConfig, SolverConfig, UNetConfig, UnrolledSolver

TINY = GlowConfig(channels=3, levels=2, depth=2, hidden=8)


def _prior(x):
    return perturbed_glow(x, 0.05)


def _grads(solver, y, op, x):
    solver.zero_grad()
    loss = ((solver(y, op) - x) ** 2).mean()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in solver.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("op_name", ["denoise", "inpaint", "deblur"])
def test_memory_saving_gradients_equal_plain_autograd(float64, op_name):
    x = torch.rand(2, 3, 8, 8)
    op = {"denoise": Denoise(), "inpaint": Inpaint.centre(8, 8, 3), "deblur": Blur(1.0)}[op_name].double()
    y = measure(x, op, 0.1, seed=1)
    solver = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=3, init_step_size=0.7, init_shrinkage=0.2))
    solver.memory_saving = False
    loss_plain, plain = _grads(solver, y, op, x)
    solver.memory_saving = True
    loss_saving, saving = _grads(solver, y, op, x)
    assert torch.allclose(loss_plain, loss_saving, rtol=1e-12)
    assert plain.keys() == saving.keys()
    for name in plain:
        denom = plain[name].norm().clamp_min(1e-30)
        assert (plain[name] - saving[name]).norm() / denom < 1e-8, name
        assert plain[name].abs().sum() > 0, f"{name} received no gradient"


def test_a_shared_trained_prox_gets_equal_memory_saving_gradients_from_every_fold(float64):
    """One flow in all folds (finetune --shared-prox): its gradient sums over the folds either way."""
    x = torch.rand(2, 3, 8, 8)
    op = Blur(1.0).double()
    y = measure(x, op, 0.1, seed=1)
    solver = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=3, tied=True, init_shrinkage=0.2))
    solver.proxes.requires_grad_(True)
    grads = {}
    for saving in (False, True):
        solver.memory_saving = saving
        _, grads[saving] = _grads(solver, y, op, x)
    assert len(solver.proxes) == 1 and any(name.startswith("proxes.0.") for name in grads[True])
    for name, g in grads[False].items():
        assert (g - grads[True][name]).norm() / g.norm().clamp_min(1e-30) < 1e-8, name


def test_plug_and_play_trains_only_step_sizes(float64):
    x = torch.rand(2, 3, 8, 8)
    solver = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=4, tied=True))
    assert len(solver.proxes) == 1
    trainable = {n for n, p in solver.named_parameters() if p.requires_grad}
    assert trainable == {"step_size_raw", "shrinkage_raw"}
    _, grads = _grads(solver, measure(x, Denoise(), 0.1, 0), Denoise(), x)
    assert set(grads) == trainable


def test_untied_folds_start_from_the_prior():
    x = torch.rand(2, 3, 8, 8)
    prior = _prior(x)
    solver = UnrolledSolver.from_prior(prior, SolverConfig(folds=3))
    for prox in solver.proxes:
        for (n, a), (_, b) in zip(prox.flow.state_dict().items(), prior.state_dict().items()):
            assert torch.equal(a, b), n
    assert solver.proxes[0].flow.layers[2].loc.data_ptr() != solver.proxes[1].flow.layers[2].loc.data_ptr()


@pytest.mark.parametrize("prox", ["glow", "resnet", "unet"])
@pytest.mark.parametrize("size", [(8, 8), (16, 24)])
def test_shapes_and_dtypes(prox, size):
    cfg = {"glow": TINY, "resnet": ResNetConfig(width=8), "unet": UNetConfig(width=4, depth=2)}[prox]
    solver = UnrolledSolver(SolverConfig(folds=2, prox=prox, prox_config=cfg))
    y = torch.rand(3, 3, *size)
    out = solver(y, Denoise())
    assert out.shape == y.shape and out.dtype == y.dtype
    assert len(solver(y, Denoise(), return_all=True)) == 3


def test_positivity_of_step_size_and_shrinkage():
    solver = UnrolledSolver(SolverConfig(folds=3, prox_config=TINY))
    with torch.no_grad():
        solver.step_size_raw.fill_(-50)
        solver.shrinkage_raw.fill_(-50)
    assert (solver.step_size > 0).all() and (solver.shrinkage > 0).all()


def test_solver_reduces_the_data_misfit(float64):
    """From x0 = g(0), every fold's estimate fits the measurement far better than x0: the
    data step (mu = 1 projects onto the observed pixels) dominates a mild shrinkage."""
    x = torch.rand(2, 3, 8, 8)
    op = Inpaint.centre(8, 8, 3).double()
    y = measure(x, op, 0.0, seed=0)
    solver = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=4, init_step_size=1.0, init_shrinkage=0.01))
    with torch.no_grad():
        estimates = solver(y, op, return_all=True)
    misfits = [float(op.residual(e, y).norm()) for e in estimates]
    assert all(m < 0.05 * misfits[0] for m in misfits[1:]), misfits


def test_solver_save_load_round_trip(tmp_path):
    x = torch.rand(2, 3, 8, 8)
    solver = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=2))
    path = tmp_path / "denoise.safetensors"
    save_model(path, solver, extra={"task": {"task": "denoise", "noise_sigma": 0.2}})
    ckpt = load_model(path)
    assert ckpt.kind == "solver" and ckpt.metadata["task"]["noise_sigma"] == 0.2
    y = measure(x, Denoise(), 0.2, 0)
    with torch.no_grad():
        assert torch.equal(ckpt.model(y, Denoise()), solver(y, Denoise()))


def test_fp16_checkpoint_loads_as_float32(tmp_path):
    solver = UnrolledSolver(SolverConfig(folds=2, prox_config=TINY))
    path = tmp_path / "half.safetensors"
    save_model(path, solver, dtype=torch.float16)
    loaded = load_model(path).model
    assert all(p.dtype == torch.float32 for p in loaded.parameters())


def test_literal_eq12_ends_on_the_last_data_step(float64):
    x = torch.rand(2, 3, 8, 8)
    op = Blur(1.0).double()
    y = measure(x, op, 0.05, seed=2)
    solver = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=3, shrink_last=False))
    with torch.no_grad():
        estimates = solver(y, op, return_all=True)
        expected = solver.data_step(estimates[-2], y, op, fold=2)
    assert torch.allclose(estimates[-1], expected, atol=1e-12)


def _bytes_kept_for_backward(solver, y, op, tmp_path):
    """Bytes allocated during the forward pass and still alive after it: what autograd keeps."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = solver(y, op)
    prof.export_chrome_trace(str(tmp_path / "trace.json"))
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    memory = sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e["ts"])
    # The allocator's running total outlives a profiling session: measure from its first value.
    first, last = memory[0]["args"], memory[-1]["args"]
    del out
    return last["Total Allocated"] - (first["Total Allocated"] - first["Bytes"])


@pytest.mark.parametrize("op_name", ["denoise", "deblur"])
def test_memory_saving_keeps_one_image_per_fold(op_name, tmp_path):
    """Each extra fold costs the fold's output image and nothing else (no flow activations,
    no data-step residual), whatever the flow's depth."""
    x = torch.rand(2, 3, 16, 16)
    op = {"denoise": Denoise(), "deblur": Blur(1.0)}[op_name]
    y = measure(x, op, 0.1, seed=1)
    prior = _prior(x)
    kept = {}
    for folds in (2, 4):
        solver = UnrolledSolver.from_prior(prior, SolverConfig(folds=folds))
        kept[folds] = _bytes_kept_for_backward(solver, y, op, tmp_path)
    image = x.numel() * x.element_size()
    assert (kept[4] - kept[2]) / 2 < 1.25 * image, f"bytes kept: {kept}, one image: {image}"


def _conditioned(x, slopes=(0.0, 0.0), on="noise", **config):
    """A 3-fold solver conditioned on the noise level (`on="noise"`) or on the blur's sigma_b; `config`
    overrides SolverConfig fields."""
    config = dict(folds=3, init_step_size=0.7, init_shrinkage=0.2, noise_conditioned=on == "noise",
                  blur_conditioned=on == "blur") | config
    solver = UnrolledSolver.from_prior(_prior(x), SolverConfig(**config))
    with torch.no_grad():
        solver.step_size_slope.fill_(slopes[0])
        solver.shrinkage_slope.fill_(slopes[1])
    return solver


def test_noise_conditioned_solver_at_the_reference_level_is_the_plain_solver(float64):
    x = torch.rand(2, 3, 8, 8)
    y = measure(x, Denoise(), 0.2, seed=1)
    plain = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=3, init_step_size=0.7, init_shrinkage=0.2))
    conditioned = _conditioned(x, slopes=(0.3, -0.5))
    conditioned.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        assert torch.allclose(conditioned(y, Denoise(), sigma=0.2), plain(y, Denoise()), atol=1e-12)
        assert not torch.allclose(conditioned(y, Denoise(), sigma=0.1), plain(y, Denoise()), atol=1e-6)
        # one sigma per image: each image is restored as if alone
        both = conditioned(y, Denoise(), sigma=torch.tensor([0.1, 0.3]))
        assert torch.allclose(both[1:], conditioned(y[1:], Denoise(), sigma=0.3), atol=1e-12)
    with pytest.raises(ValueError, match="pass sigma"):
        conditioned(y, Denoise())
    with pytest.raises(ValueError, match="positive"):
        conditioned(y, Denoise(), sigma=0.0)


def test_below_the_sigma_floor_the_folds_run_at_the_floor(float64):
    x = torch.rand(2, 3, 8, 8)
    y = measure(x, Denoise(), 0.01, seed=2)
    solver = _conditioned(x, slopes=(0.4, -0.7), sigma_floor=0.02)
    with torch.no_grad():
        at_floor = solver(y, Denoise(), sigma=0.02)
        for below in (0.0, 0.001, 0.019):  # a clean image's 0 is allowed once there is a floor
            assert torch.equal(solver(y, Denoise(), sigma=below), at_floor)
        assert not torch.allclose(solver(y, Denoise(), sigma=0.03), at_floor)
    with pytest.raises(ValueError, match="positive"):
        _conditioned(x)(y, Denoise(), sigma=0.0)  # no floor: 0 has no log
    with pytest.raises(ValueError, match="positive"):
        solver(y, Denoise(), sigma=-0.1)  # a floor does not make a negative level one


def test_the_measurement_blend_is_the_linear_mmse_combination(float64):
    x = torch.rand(3, 3, 8, 8)
    y = measure(x, Denoise(), 0.05, seed=3)
    eps = 0.03
    plain = _conditioned(x, slopes=(0.2, 0.3), sigma_floor=0.02)
    blended = _conditioned(x, slopes=(0.2, 0.3), sigma_floor=0.02, blend_error=eps)
    blended.load_state_dict(plain.state_dict())
    sigma = torch.tensor([0.0, 0.05, 5.0])
    with torch.no_grad():
        x_hat, out = plain(y, Denoise(), sigma=sigma), blended(y, Denoise(), sigma=sigma)
        w = eps**2 / (eps**2 + sigma**2)
        assert torch.allclose(out, (sigma[:, None, None, None] ** 2 * x_hat + eps**2 * y) / (sigma**2 + eps**2)[
            :, None, None, None])
        assert torch.allclose(out[0], y[0]) and torch.allclose(out[2], x_hat[2], atol=1e-4)  # w = 1 and w -> 0
        assert torch.allclose(out[1], x_hat[1] + w[1] * (y[1] - x_hat[1]))
        sharper = _conditioned(x, slopes=(0.2, 0.3), sigma_floor=0.02, blend_error=eps, blend_power=4.0)
        sharper.load_state_dict(plain.state_dict())
        w4 = 1 / (1 + (sigma / eps) ** 4)  # p = 4: w falls faster with sigma, equal at sigma = eps
        assert torch.allclose(sharper(y, Denoise(), sigma=sigma), x_hat + w4[:, None, None, None] * (y - x_hat))
        assert w4[1] < w[1]
        # the blend is for denoising only: with another operator the output is the folds' own
        op = Inpaint(torch.ones(1, 1, 8, 8))
        assert torch.equal(blended(y, op, sigma=sigma), plain(y, op, sigma=sigma))
    for bad in ({"blend_error": 0.03}, {"sigma_floor": 0.02}):  # both need noise conditioning
        with pytest.raises(ValueError, match="noise-conditioned"):
            SolverConfig(**bad)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\)"):
        SolverConfig(noise_conditioned=True, blend_error=-0.1)
    with pytest.raises(ValueError, match="blend_power"):
        SolverConfig(noise_conditioned=True, blend_error=0.03, blend_power=0.0)


@pytest.mark.parametrize("slopes", [(0.4, 0.8), (-0.3, -0.6)])
def test_fold_parameters_are_positive_and_monotone_in_sigma(float64, slopes):
    x = torch.rand(1, 3, 8, 8)
    solver = _conditioned(x, slopes)
    sigma = torch.tensor([0.02, 0.05, 0.1, 0.2, 0.3])
    mu, lam = solver.fold_parameters(solver.log_ratio(sigma, 5, x))
    assert mu.shape == lam.shape == (5, 3) and (mu > 0).all() and (lam > 0).all()
    for values, slope in ((mu, slopes[0]), (lam, slopes[1])):
        steps = values.diff(dim=0)
        assert ((steps > 0) if slope > 0 else (steps < 0)).all()
    mu_ref, lam_ref = solver.fold_parameters(None)
    assert torch.allclose(mu[3], mu_ref[0]) and torch.allclose(lam[3], lam_ref[0])


def _conditioned_grads(solver, y, x) -> dict:
    """{memory_saving: {parameter name: gradient}} of a summed squared error at two noise levels."""
    grads = {}
    for saving in (False, True):
        solver.memory_saving = saving
        solver.zero_grad()
        loss = ((solver(y, Denoise(), sigma=torch.tensor([0.08, 0.15])) - x) ** 2).sum()
        loss.backward()
        grads[saving] = {n: p.grad.clone() for n, p in solver.named_parameters() if p.grad is not None}
    return grads


def test_noise_conditioned_memory_saving_gradients_equal_plain_autograd(float64):
    x = torch.rand(2, 3, 8, 8)
    y = measure(x, Denoise(), 0.1, seed=1)
    solver = _conditioned(x, slopes=(0.2, 0.4))
    grads = _conditioned_grads(solver, y, x)
    assert grads[True].keys() == grads[False].keys() >= {"step_size_slope", "shrinkage_slope"}
    for name, g in grads[False].items():
        assert (g - grads[True][name]).norm() / g.norm().clamp_min(1e-30) < 1e-8, name
        assert g.abs().sum() > 0, name


def _levels(x, conditioned=False):
    config = SolverConfig(folds=3, init_step_size=0.7, init_shrinkage=0.2, level_shrinkage=True,
                          noise_conditioned=conditioned)
    return UnrolledSolver.from_prior(_prior(x), config)


def test_per_level_shrinkage_with_equal_levels_is_the_paper_scalar(float64):
    x = torch.rand(2, 3, 8, 8)
    y = measure(x, Denoise(), 0.2, seed=1)
    scalar = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=3, init_step_size=0.7, init_shrinkage=0.2))
    levels = _levels(x)
    assert levels.shrinkage_raw.shape == (3, TINY.levels) and (levels.shrinkage > 0).all()
    state = scalar.state_dict()
    state["shrinkage_raw"] = state["shrinkage_raw"][:, None].expand(3, TINY.levels).clone()
    levels.load_state_dict(state)
    for train in (True, False):  # the invertible chain, and the folded inference flow
        levels.train(train), scalar.train(train)
        with torch.no_grad():
            assert torch.allclose(levels(y, Denoise()), scalar(y, Denoise()), atol=1e-12)
    with torch.no_grad():
        levels.shrinkage_raw[:, -1] += 1.0  # more shrinkage on the coarsest level only
        assert not torch.allclose(levels(y, Denoise()), scalar(y, Denoise()), atol=1e-6)


def test_per_level_shrink_divides_each_level_by_its_own_factor_and_inverts(float64):
    from flowrestore.solver.prox import Shrink

    raw = torch.nn.Parameter(torch.tensor([[0.1, -0.5, 2.0]]))
    state = (torch.randn(2, 6, 4, 4), torch.randn(2, 12, 2, 2), torch.randn(2, 24, 1, 1))
    shrink = Shrink(raw, 0)
    out = shrink.forward(state)
    for z, shrunk, r in zip(state, out, raw[0]):
        assert torch.allclose(shrunk, z / (1 + torch.nn.functional.softplus(r)))
    assert all(torch.allclose(a, b) for a, b in zip(shrink.inverse(out), state))
    with pytest.raises(ValueError, match="3 shrinkages for a latent of 2 levels"):
        shrink.forward(state[:2])


def test_per_level_memory_saving_gradients_equal_plain_autograd(float64):
    x = torch.rand(2, 3, 8, 8)
    y = measure(x, Denoise(), 0.1, seed=1)
    solver = _levels(x, conditioned=True)
    with torch.no_grad():
        solver.shrinkage_raw.add_(0.3 * torch.randn_like(solver.shrinkage_raw))
        solver.shrinkage_slope.fill_(0.4)
    grads = _conditioned_grads(solver, y, x)
    assert grads[True]["shrinkage_raw"].shape == (3, TINY.levels)
    for name, g in grads[False].items():
        assert (g - grads[True][name]).norm() / g.norm().clamp_min(1e-30) < 1e-8, name
    mu, lam = solver.fold_parameters(solver.log_ratio(torch.tensor([0.05, 0.3]), 2, x))
    assert mu.shape == (2, 3) and lam.shape == (2, 3, TINY.levels) and (lam > 0).all()
    assert (lam[1] > lam[0]).all()  # a positive slope: more shrinkage at stronger noise, on every level


def test_a_per_level_solver_round_trips_and_starts_from_a_scalar_checkpoint(tmp_path):
    from cli_fixtures import save_tiny

    from flowrestore.operators import TaskSpec
    from flowrestore.training.finetune import FinetuneConfig, build_solver

    scalar_path = save_tiny(tmp_path / "scalar.safetensors")
    prior_path = tmp_path / "prior.safetensors"
    save_model(prior_path, load_model(scalar_path).model.proxes[0].flow)
    config = FinetuneConfig(train_dir=tmp_path, task=TaskSpec.default("denoise"), prior=prior_path,
                            init_from=scalar_path, folds=2, level_shrinkage=True)
    solver = build_solver(config).eval()
    scalar = load_model(scalar_path).model.eval()
    assert solver.shrinkage_raw.shape == (2, scalar.proxes[0].flow.config.levels)
    y = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(solver(y, Denoise()), scalar(y, Denoise()), atol=1e-6)  # the same start
    path = tmp_path / "levels.safetensors"
    save_model(path, solver)
    again = load_model(path).model
    assert again.config.level_shrinkage and torch.equal(again.shrinkage_raw, solver.shrinkage_raw)


def test_blur_conditioned_solver_reads_sigma_b_from_its_operator(float64):
    from flowrestore.operators.censored import Censored

    x = torch.rand(2, 3, 8, 8)
    plain = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=3, init_step_size=0.7, init_shrinkage=0.2))
    conditioned = _conditioned(x, slopes=(0.3, -0.5), on="blur")
    conditioned.load_state_dict(plain.state_dict(), strict=False)
    at_5, at_2 = Blur(5.0, kernel_size=3).double(), Blur(2.0, kernel_size=3).double()
    y = measure(x, at_2, 0.01, seed=1)
    with torch.no_grad():
        # at the reference blur the conditioned model is the plain one, whatever its slopes
        assert torch.allclose(conditioned(y, at_5), plain(y, at_5), atol=1e-12)
        assert not torch.allclose(conditioned(y, at_2), plain(y, at_2), atol=1e-6)
        # a wrapped operator (clipped measurements) passes its blur on: y has no clipped pixel here
        inside = y.clamp(0.01, 0.99)
        assert torch.allclose(conditioned(inside, Censored(at_2, 0.01)), conditioned(inside, at_2), atol=1e-12)
        assert Censored(at_2, 0.01).blur_sigma == 2.0 and Denoise().blur_sigma is None
        mu, lam = conditioned.fold_parameters(conditioned.log_ratio(None, 1, y, at_2))
        mu_plain, lam_plain = conditioned.fold_parameters(None)
        assert (mu < mu_plain).all() and (lam > lam_plain).all()  # slopes 0.3 and -0.5, log(2/5) < 0
    with pytest.raises(ValueError, match="blur operator"):
        conditioned(y, Denoise())
    with pytest.raises(ValueError, match="not both"):
        SolverConfig(noise_conditioned=True, blur_conditioned=True)


def test_blur_conditioned_memory_saving_gradients_equal_plain_autograd(float64):
    x = torch.rand(2, 3, 8, 8)
    op = Blur(2.0, kernel_size=3).double()
    y = measure(x, op, 0.01, seed=1)
    solver = _conditioned(x, slopes=(0.2, 0.4), on="blur")
    grads = {}
    for saving in (False, True):
        solver.memory_saving = saving
        _, grads[saving] = _grads(solver, y, op, x)
    assert grads[True].keys() == grads[False].keys() >= {"step_size_slope", "shrinkage_slope"}
    for name, g in grads[False].items():
        assert (g - grads[True][name]).norm() / g.norm().clamp_min(1e-30) < 1e-8, name
    assert grads[False]["step_size_slope"].abs().sum() > 0


def test_ridge_initial_guess_is_the_minimiser_and_inverts_a_noise_free_blur(float64):
    from flowrestore.solver.initial import ridge

    x = torch.rand(2, 3, 12, 16)
    for op in (Blur(1.5).double(), Blur(2.0, kernel_size=3, boundary="periodic").double()):
        y = measure(x, op, 0.0)
        v = ridge(y, op, 1e-2) - 0.5
        gradient = op.A_adjoint(op.A(v) - (y - 0.5)) + 1e-2 * v  # of ||A v - (y - 1/2)||^2 / 2 + beta ||v||^2 / 2
        assert gradient.abs().max() < 1e-10
        assert (ridge(y, op, 1e-12) - x).abs().max() < 1e-4  # the 5x5 blur is invertible without noise
        # the basis is cached on the operator per grid: another grid, then the first again, as a fresh operator
        other = torch.rand(1, 3, 8, 20, dtype=torch.float64)
        fresh = Blur(op.sigma, op.kernel.shape[-1], op.boundary).double()
        assert torch.equal(ridge(other, op, 1e-2), ridge(other, fresh, 1e-2))
        assert torch.equal(ridge(y, op, 1e-2) - 0.5, v)
        # one beta per image, given as a tensor, is each image's own ridge
        betas = torch.tensor([1e-2, 1e-4], dtype=torch.float64)
        assert torch.equal(ridge(y, op, betas)[1:], ridge(y[1:], op, 1e-4))
    with pytest.raises(ValueError, match="separable blur"):
        ridge(y, Denoise(), 1e-3)


def test_a_ridge_started_solver_starts_from_the_ridge_inverse_and_round_trips(float64, tmp_path):
    x = torch.rand(2, 3, 8, 8)
    op = Blur(1.5).double()
    y = measure(x, op, 0.0)
    solver = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=2, initial_guess="ridge", ridge_balance=1e-6))
    from flowrestore.solver.initial import ridge

    assert torch.equal(solver.initial_guess(y, op), ridge(y, op, 1e-6))
    with pytest.raises(ValueError, match="ridge inverse of a blur"):
        solver(y, Denoise())
    with pytest.raises(ValueError, match="initial guess"):
        SolverConfig(initial_guess="zeros")
    save_model(tmp_path / "ridge.safetensors", solver)
    again = load_model(tmp_path / "ridge.safetensors").model
    assert again.config.initial_guess == "ridge" and again.config.ridge_balance == 1e-6


def test_ridge_takes_one_balance_per_image(float64):
    from flowrestore.solver.initial import ridge

    x = torch.rand(3, 3, 8, 12)
    op = Blur(1.5).double()
    y = measure(x, op, 0.01, seed=2)
    balances = torch.tensor([1e-6, 1e-3, 1e-1])
    together = ridge(y, op, balances)
    for i, beta in enumerate(balances.tolist()):
        assert torch.allclose(together[i : i + 1], ridge(y[i : i + 1], op, beta), atol=1e-12)


def _storage_solver(x, slopes=(0.3, 0.8)):
    """A ridge-started deblurrer told sigma with the storage's rounding counted (as finetune builds it)."""
    from flowrestore.operators import STORAGE_SIGMA

    return _conditioned(x, slopes, folds=2, initial_guess="ridge", ridge_balance=1e-3, storage_noise=True,
                        reference_sigma=STORAGE_SIGMA["8bit"])


def test_a_noise_aware_deblurrer_scales_its_ridge_balance_with_sigma_squared(float64):
    from flowrestore.operators import STORAGE_SIGMA
    from flowrestore.solver.initial import ridge

    x = torch.rand(2, 3, 8, 8)
    op = Blur(1.5).double()
    y = measure(x, op, 0.0)
    solver = _storage_solver(x)
    reference = STORAGE_SIGMA["8bit"]
    for sigma in (reference, 10 * reference, 1e-8):
        log_ratio = solver.log_ratio(sigma, 2, y)
        expected = ridge(y, op, 1e-3 * (sigma / reference) ** 2)
        assert torch.allclose(solver.initial_guess(y, op, log_ratio), expected, atol=1e-9), sigma
    # at an 8-bit file's level it is the plain ridge-started solver with the same weights, whatever its slopes
    plain = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=2, init_step_size=0.7, init_shrinkage=0.2,
                                                              initial_guess="ridge", ridge_balance=1e-3))
    solver.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        assert torch.allclose(solver(y, op, sigma=reference), plain(y, op), atol=1e-10)
        # told the measurement is exact, the positive slopes shrink less and step less: closer to x
        exact = solver(y, op, sigma=STORAGE_SIGMA["float32"])
    assert ((exact - x) ** 2).mean() < ((plain(y, op) - x) ** 2).mean()
    with pytest.raises(ValueError, match="noise-conditioned"):
        SolverConfig(storage_noise=True)


def test_with_config_changes_the_configuration_and_copies_the_tensors_byte_for_byte(tmp_path, float64):
    from safetensors.torch import load_file

    from flowrestore.serialization import with_config

    x = torch.rand(2, 3, 8, 8)
    solver = _conditioned(x, slopes=(0.1, 0.2)).float()
    source, target = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_model(source, solver, extra={"task": {"task": "denoise"}, "sigma_range": [0.02, 0.3]}, dtype=torch.int8)
    with_config(source, target, blend_error=0.03, sigma_floor=0.02)
    before, after = load_file(str(source)), load_file(str(target))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    loaded = load_model(target)
    assert (loaded.model.config.blend_error, loaded.model.config.sigma_floor) == (0.03, 0.02)
    assert loaded.metadata["sigma_range"] == [0.02, 0.3] and loaded.metadata["storage"] == "int8"
    with pytest.raises(ValueError, match="lie in"):
        with_config(source, tmp_path / "c.safetensors", blend_error=2.0)
    assert not (tmp_path / "c.safetensors").exists()


def test_the_flip_ensemble_averages_a_denoiser_s_two_mirrored_restorations_out_of_training(float64):
    from dataclasses import replace

    x = torch.rand(2, 3, 8, 8)
    solver = UnrolledSolver.from_prior(_prior(x), SolverConfig(folds=2, init_step_size=0.5)).eval()
    op, y = Denoise(), measure(x, Denoise(), 0.2)
    plain = solver(y, op)
    mirrored = solver(y.flip(-1), op).flip(-1)
    assert not torch.allclose(plain, mirrored)  # a flow is not mirror-symmetric: two estimates
    solver.config = replace(solver.config, flip_ensemble=True)
    torch.testing.assert_close(solver(y, op), (plain + mirrored) / 2)
    every = solver(y, op, return_all=True)
    torch.testing.assert_close(every[-1], (plain + mirrored) / 2)
    assert len(every) == 3
    # an image and its mirror get mirrored results
    torch.testing.assert_close(solver(y.flip(-1), op), solver(y, op).flip(-1))
    # in training one pass as before
    assert torch.equal(solver.train()(y, op), plain)
    solver.eval()
    # a Gaussian blur commutes with the mirror too; the centre box of an even width does not: one pass
    one_pass = replace_config(solver, flip_ensemble=False)
    blur = Blur(1.0).double()
    yb = measure(x, blur, 0.0)
    torch.testing.assert_close(solver(yb, blur), (one_pass(yb, blur) + one_pass(yb.flip(-1), blur).flip(-1)) / 2)
    box = Inpaint.centre(8, 8, 3).double()
    yi = measure(x, box, 0.0)
    assert torch.equal(solver(yi, box), one_pass(yi, box))


@pytest.mark.parametrize("operator, symmetric", [
    (Denoise(), True), (Blur(1.5), True), (Blur(2.0, kernel_size=None, boundary="periodic"), True),
    (Inpaint.centre(8, 8, 3), False), (Inpaint.centre(8, 8, 4), True), (Inpaint.centre(9, 9, 3), True),
])
def test_an_operator_says_whether_it_commutes_with_the_mirror(operator, symmetric):
    """mirror_symmetric (what the flip self-ensemble relies on) states A F = F A, F the left-right mirror."""
    from flowrestore.operators.base import LastFoldOperator
    from flowrestore.operators.censored import Censored

    x = torch.rand(2, 3, *(operator.mask.shape[-2:] if isinstance(operator, Inpaint) else (8, 8)))
    commutes = torch.allclose(operator.A(x.flip(-1)), operator.A(x).flip(-1), atol=1e-6)
    assert operator.mirror_symmetric == commutes == symmetric
    assert Censored(operator, 0.1).mirror_symmetric == symmetric
    assert LastFoldOperator(Denoise(), operator).mirror_symmetric == symmetric


def replace_config(solver, **changes):
    import copy
    from dataclasses import replace

    other = copy.deepcopy(solver)
    other.config = replace(other.config, **changes)
    return other
