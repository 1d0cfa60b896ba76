"""Every method restores on its task; MAP lowers its objective; missing pieces are skipped, not errors."""

import dataclasses

import numpy as np
import pytest
import torch

from flowrestore.benchmark import classical, methods
from flowrestore.benchmark.map import LatentMAP, MapConfig
from flowrestore.benchmark.metrics import score
from flowrestore.operators import TaskSpec, measure_each
from flowrestore.serialization import load_model

TASK_OF = {name: c.task for name, c in classical.CLASSICAL.items()}


def _batch(smooth, n=2):
    return torch.stack([torch.from_numpy(smooth(i)).permute(2, 0, 1).float() for i in range(n)])


def _mean_psnr(x_hat, x):
    return float(np.mean([p for p, _ in score(x_hat, x)]))


@pytest.mark.parametrize("name", sorted(classical.CLASSICAL))
def test_classical_method_beats_the_measurement_on_a_smooth_image(smooth, name):
    if name == "bm3d":
        pytest.importorskip("bm3d")
    spec = TaskSpec.default(TASK_OF[name])
    x = _batch(smooth)
    op = spec.operator(*x.shape[-2:])
    y = measure_each(x, op, spec.noise_sigma, [11, 12])
    restorer, _ = methods.build(name, spec, spec, {})
    x_hat = restorer(y, op)
    assert x_hat.shape == x.shape and x_hat.dtype == x.dtype
    assert _mean_psnr(x_hat, x) > _mean_psnr(y, x) + 1.0


def test_classical_method_refuses_another_task(smooth):
    spec = TaskSpec.default("inpaint")
    with pytest.raises(methods.Unavailable, match="does not apply"):
        methods.build("wiener", spec, spec, {})


def test_missing_optional_package_is_unavailable(monkeypatch):
    monkeypatch.setitem(classical.CLASSICAL, "bm3d",
                        dataclasses.replace(classical.CLASSICAL["bm3d"], requires="flowrestore_no_such_package"))
    spec = TaskSpec.default("denoise")
    with pytest.raises(methods.Unavailable, match="optional package"):
        methods.build("bm3d", spec, spec, {})


def test_missing_checkpoint_is_unavailable():
    spec = TaskSpec.default("deblur")
    with pytest.raises(methods.Unavailable, match="glow-deblur"):
        methods.build("glow", spec, spec, {})


def test_checkpoint_for_another_task_is_an_error(checkpoints):
    spec = TaskSpec.default("denoise")
    with pytest.raises(ValueError, match="trained for inpaint"):
        methods.build("glow", spec, spec, {"glow-denoise": checkpoints["glow-inpaint"]})


def test_learned_method_reports_a_shifted_test_setting(checkpoints, smooth):
    spec, trained = TaskSpec("denoise", noise_sigma=0.25), TaskSpec.default("denoise")
    restorer, info = methods.build("unet", spec, TaskSpec("denoise", noise_sigma=0.1), checkpoints)
    assert "trained at denoise sigma=0.2" in info["note"]
    _, info = methods.build("unet", spec, trained, checkpoints)
    assert "note" not in info and info["checkpoint_task"]["noise_sigma"] == 0.2
    x = _batch(smooth)
    assert restorer(x, spec.operator(32, 32)).shape == x.shape


@pytest.mark.parametrize("optimizer,lr", [("lbfgs", 1.0), ("adam", 0.05)])
def test_map_lowers_its_objective(checkpoints, smooth, optimizer, lr):
    prior = load_model(checkpoints["celeba-prior"]).model.eval().requires_grad_(False)
    x = _batch(smooth)[..., :16, :16]
    op = TaskSpec("inpaint", box=5).operator(16, 16)
    y = measure_each(x, op, 0.05, [1, 2])
    solver = LatentMAP(prior, MapConfig(steps=2, optimizer=optimizer, lr=lr, lbfgs_max_iter=4), noise_sigma=0.05)
    assert solver.gamma == pytest.approx(0.05**2)
    start = solver.objective(solver.zeros(y), y, op)
    z = solver.solve(y, op)
    end = solver.objective(z, y, op)
    assert (end < start).all(), (start, end)
    assert torch.allclose(solver(y, op), prior.decode(z), atol=1e-5)


def test_map_lbfgs_does_not_depend_on_the_batch(checkpoints, smooth):
    prior = load_model(checkpoints["celeba-prior"]).model.eval().requires_grad_(False)
    x = _batch(smooth, 3)[..., :16, :16]
    op = TaskSpec("deblur", blur_sigma=1.0).operator(16, 16)
    y = op.A(x)
    solver = LatentMAP(prior, MapConfig(steps=2, lbfgs_max_iter=3))
    together = solver(y, op)
    alone = torch.cat([solver(y[i : i + 1], op) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_tuning_scores_the_grid_and_prefers_the_milder_near_tie(image_folder):
    from flowrestore.benchmark.datasets import load_images
    from flowrestore.benchmark.tuning import Tuning, tune

    result = tune("tv", load_images(str(image_folder), limit=2), values=(0.5, 1.0))
    assert result.values == (0.5, 1.0) and len(result.psnr) == 2 and result.best in result.values
    assert Tuning("rl", "num_iter", (10, 100, 300), (18.0, 19.27, 19.28)).best == 100


def test_a_noise_aware_deblurrer_is_told_float_or_8bit_storage(checkpoints, smooth, tmp_path):
    """The benchmark's float measurements are exact to float32, --8bit's to 1/255: the model hears which."""
    from flowrestore.operators import STORAGE_SIGMA, quantize_8bit
    from flowrestore.serialization import save_model
    from flowrestore.solver import SolverConfig, UnrolledSolver

    prior = load_model(checkpoints["glow-deblur"]).model.proxes[0].flow
    config = SolverConfig(folds=2, noise_conditioned=True, storage_noise=True, initial_guess="ridge",
                          reference_sigma=STORAGE_SIGMA["8bit"])
    model = UnrolledSolver.from_prior(prior, config).eval()
    with torch.no_grad():
        model.shrinkage_slope.fill_(0.5)
    save_model(tmp_path / "aware.safetensors", model,
               extra={"task": TaskSpec.default("deblur").to_dict(), "sigma_range": [0.002, 0.02]})
    spec = TaskSpec.default("deblur")
    x = _batch(smooth).clamp(0.05, 0.95)  # no pixel at 0 or 1: censoring leaves the 8-bit case alone
    op = spec.operator(*x.shape[-2:])
    y = measure_each(x, op, 0.0, [1, 2])
    checkpoint = {"glow-deblur": tmp_path / "aware.safetensors"}
    with torch.no_grad():
        for clipped, measured, storage in ((False, y, "float32"), (True, quantize_8bit(y), "8bit")):
            restorer, _ = methods.build("glow", spec, spec, checkpoint, clipped=clipped)
            expected = model(measured, op, sigma=STORAGE_SIGMA[storage])
            assert torch.allclose(restorer(measured, op), expected, atol=1e-5), storage
