"""Training: a tiny pretrain -> finetune chain, exact resume, divergence handling, checkpoints."""

from __future__ import annotations

import importlib
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from flowrestore.operators import TaskSpec, measure
from flowrestore.serialization import load_model, save_model
from flowrestore.training import FinetuneConfig, LoopConfig, PretrainConfig, TrainingError, finetune, pretrain

pretrain_module = importlib.import_module("flowrestore.training.pretrain")
from helpers import TINY_GLOW, write_images

from flowrestore.training.state import load_state, save_state


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("faces")
    return write_images(root / "train", 24, seed=0), write_images(root / "val", 6, seed=1)


def _pretrain_config(folders, out: Path, steps: int = 8, **loop) -> PretrainConfig:
    train, val = folders
    return PretrainConfig(
        train_dir=train, val_dir=val, out_dir=out, glow=TINY_GLOW, image_size=16, lr=5e-3, warmup_steps=2,
        device="cpu", loop=LoopConfig(batch_size=8, max_steps=steps, eval_every=4, **loop),
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path).model.state_dict()


def test_pretrain_lowers_bits_per_dim_and_writes_checkpoints(folders, tmp_path):
    events = []
    result = pretrain(_pretrain_config(folders, tmp_path, steps=16), callback=events.append)
    bpd = [h["val_bpd"] for h in result.history]
    assert bpd[-1] < bpd[0]
    assert {"best.safetensors", "last.safetensors", "state.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    ckpt = load_model(tmp_path / "best.safetensors")
    assert ckpt.kind == "glow" and ckpt.metadata["metrics"]["val_bpd"] == pytest.approx(min(bpd))
    assert len(ckpt.metadata["data_fingerprint"]) == 16
    assert not list(tmp_path.glob("*.tmp"))
    steps = [e for e in events if e["event"] == "step"]
    assert steps[-1]["step"] == 16 and steps[-1]["images_per_s"] > 0


def test_pretrain_finetune_restore_chain(folders, tmp_path):
    prior = pretrain(_pretrain_config(folders, tmp_path / "prior"))
    spec = TaskSpec("denoise", noise_sigma=0.1)
    train, val = folders
    result = finetune(FinetuneConfig(
        train_dir=train, val_dir=val, task=spec, out_dir=tmp_path / "denoise", prior=prior.best_path,
        folds=2, image_size=16, lr=1e-3, device="cpu", loop=LoopConfig(batch_size=8, max_steps=8, eval_every=4),
    ))
    ckpt = load_model(result.best_path)
    assert ckpt.kind == "solver" and ckpt.metadata["task"]["noise_sigma"] == 0.1
    psnr = [h["val_psnr"] for h in result.history]
    assert ckpt.metadata["metrics"]["val_psnr"] == pytest.approx(max(psnr))
    x = torch.rand(2, 3, 16, 16)
    y = measure(x, spec.operator(16, 16), 0.1, seed=0)
    with torch.no_grad():
        assert ckpt.model(y, spec.operator(16, 16)).shape == x.shape


@pytest.mark.parametrize("stage", ["pretrain", "finetune"])
def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(folders, tmp_path, stage):
    if stage == "pretrain":
        def make(out):
            return lambda **kw: pretrain(_pretrain_config(folders, out, steps=8, save_every=1), **kw)
    else:
        prior = pretrain(_pretrain_config(folders, tmp_path / "prior", steps=4)).best_path

        def make(out):
            train, val = folders
            cfg = FinetuneConfig(
                train_dir=train, val_dir=val, task=TaskSpec("inpaint", box=5), out_dir=out, prior=prior, folds=2,
                image_size=16, lr=1e-3, device="cpu",
                loop=LoopConfig(batch_size=8, max_steps=8, eval_every=4, save_every=1),
            )
            return lambda **kw: finetune(cfg, **kw)

    make(tmp_path / "straight")()

    def interrupt(event):
        if event["event"] == "step" and event["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make(tmp_path / "interrupted")(callback=interrupt)
    assert load_state(tmp_path / "interrupted" / "state.safetensors")["step"] == 3
    make(tmp_path / "interrupted")(resume=True)

    a, b = _weights(tmp_path / "straight" / "last.safetensors"), _weights(tmp_path / "interrupted" / "last.safetensors")
    for name in a:
        assert torch.equal(a[name], b[name]), name
    sa = load_state(tmp_path / "straight" / "state.safetensors")
    sb = load_state(tmp_path / "interrupted" / "state.safetensors")
    assert sa["history"] == sb["history"]


def test_resume_without_state_is_an_error(folders, tmp_path):
    with pytest.raises(TrainingError, match="nothing to resume"):
        pretrain(_pretrain_config(folders, tmp_path), resume=True)


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(folders, tmp_path, monkeypatch):
    real = pretrain_module.PretrainObjective.train_step

    def failing(self, step):
        return math.nan if step == 5 else real(self, step)

    monkeypatch.setattr(pretrain_module.PretrainObjective, "train_step", failing)
    with pytest.raises(TrainingError, match="loss became nan at step 5"):
        pretrain(_pretrain_config(folders, tmp_path, steps=8))
    assert load_model(tmp_path / "best.safetensors").metadata["metrics"]["step"] == 4


def test_training_state_round_trip(tmp_path):
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))])
    opt.param_groups[0]["params"][0].grad = torch.ones(3)
    opt.step()
    state = {"optimizer": opt.state_dict(), "step": 7, "best": None, "history": [{"a": 1.5}]}
    save_state(tmp_path / "s.safetensors", state)
    back = load_state(tmp_path / "s.safetensors")
    assert back["step"] == 7 and back["history"] == [{"a": 1.5}]
    fresh = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))])
    fresh.load_state_dict(back["optimizer"])
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_finetune_plug_and_play_trains_only_scalars(folders, tmp_path):
    prior = pretrain(_pretrain_config(folders, tmp_path / "prior", steps=4)).best_path
    train, val = folders
    result = finetune(FinetuneConfig(
        train_dir=train, val_dir=val, task=TaskSpec("deblur", blur_sigma=1.0), out_dir=tmp_path / "pnp",
        prior=prior, plug_and_play=True, image_size=16, device="cpu",
        loop=LoopConfig(batch_size=8, max_steps=4, eval_every=2),
    ))
    solver = load_model(result.best_path).model
    prior_weights = load_model(prior).model.state_dict()
    assert len(solver.proxes) == 1
    for name, t in solver.proxes[0].flow.state_dict().items():
        assert torch.equal(t, prior_weights[name]), name


def test_glow_prox_needs_a_prior(folders, tmp_path):
    train, _ = folders
    with pytest.raises(ValueError, match="pre-trained prior"):
        finetune(FinetuneConfig(train_dir=train, task=TaskSpec("denoise", noise_sigma=0.1), out_dir=tmp_path,
                                image_size=16, device="cpu", loop=LoopConfig(batch_size=8, max_steps=1)))


def _denoise_objective(folders, tmp_path, **options):
    """A one-fold sigma = 0.2 denoising objective on the tiny folders, from a one-step prior."""
    from flowrestore.training.distributed import Context
    from flowrestore.training.finetune import FinetuneObjective

    prior = pretrain(_pretrain_config(folders, tmp_path / "prior", steps=1))
    train, val = folders
    config = FinetuneConfig(train_dir=train, val_dir=val, task=TaskSpec("denoise", noise_sigma=0.2),
                            out_dir=tmp_path / "ft", prior=prior.best_path, folds=1, image_size=16, device="cpu",
                            loop=LoopConfig(batch_size=8, max_steps=1), **options)
    return FinetuneObjective(config, Context(device=torch.device("cpu"), rank=0, world_size=1))


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_finetune_can_train_on_measurements_as_8_bit_files_hold_them(folders, tmp_path, fraction):
    objective = _denoise_objective(folders, tmp_path, eight_bit_fraction=fraction)
    _, y = objective._pair(0)
    on_grid = torch.allclose(y * 255, torch.round(y * 255), atol=1e-4) and y.min() >= 0 and y.max() <= 1
    assert on_grid == (fraction == 1.0)


@pytest.mark.parametrize("warmup", [0, 10])
def test_a_warm_up_scales_adams_first_step_which_moves_every_weight_by_the_learning_rate(folders, tmp_path, warmup):
    objective = _denoise_objective(folders, tmp_path, lr=1e-3, warmup_steps=warmup, max_grad_norm=None)
    flow = objective.model.proxes[0]
    before = [p.detach().clone() for p in flow.parameters()]
    objective.train_step(0)
    moves = torch.cat([(p.detach() - b).abs().flatten() for p, b in zip(flow.parameters(), before)])
    first = 1e-3 / max(warmup, 1)
    assert moves.max() <= first * 1.001  # Adam's first step: m/sqrt(v) = +-1 for each weight
    assert (moves > first * 0.9).float().mean() > 0.3  # ... and many weights move that far at once


def test_finetune_refuses_a_fraction_outside_0_1(folders, tmp_path):
    with pytest.raises(ValueError, match="eight_bit_fraction"):
        FinetuneConfig(train_dir=folders[0], task=TaskSpec.default("denoise"), eight_bit_fraction=1.5)


def test_box_jitter_trains_on_shifted_boxes_half_the_time_and_validates_on_the_centre(folders, tmp_path):
    from flowrestore.training.distributed import Context
    from flowrestore.training.finetune import FinetuneObjective

    prior = pretrain(_pretrain_config(folders, tmp_path / "prior", steps=1))
    train, val = folders
    config = FinetuneConfig(train_dir=train, val_dir=val, task=TaskSpec("inpaint", box=6), out_dir=tmp_path / "ft",
                            prior=prior.best_path, folds=1, image_size=16, device="cpu", box_jitter=3,
                            loop=LoopConfig(batch_size=8, max_steps=1))
    objective = FinetuneObjective(config, Context(device=torch.device("cpu"), rank=0, world_size=1))
    masks = torch.cat([objective._triple(step)[3].mask for step in range(8)])  # 64 training images
    centre = objective.operator.mask  # the protocol's box, also the validation operator
    assert masks.shape == (64, 1, 16, 16)
    assert ((1 - masks).flatten(1).sum(1) == 36).all()  # every box whole, 6x6, inside the image
    at_centre = (masks == centre).flatten(1).all(1)
    assert 20 <= int(at_centre.sum()) <= 50 and len({tuple(m.flatten().tolist()) for m in masks}) > 5
    holes = (masks[:, 0] == 0).nonzero()
    assert holes[:, 1].min() >= 5 - 3 and holes[:, 1].max() <= 10 + 3  # shifted by at most 3 pixels
    plain = FinetuneObjective(replace(config, box_jitter=0), Context(device=torch.device("cpu"), rank=0, world_size=1))
    assert plain._triple(0)[3] is plain.operator
    assert finetune(config).step == 1


@pytest.mark.parametrize(("task", "jitter"), [("denoise", 2), ("inpaint", -1)])
def test_box_jitter_is_for_inpainting_and_not_negative(folders, task, jitter):
    with pytest.raises(ValueError, match="box_jitter"):
        FinetuneConfig(train_dir=folders[0], task=TaskSpec.default(task), box_jitter=jitter)


def test_noise_conditioned_finetune_starts_from_a_plain_denoiser_and_learns_slopes(folders, tmp_path):
    prior = pretrain(_pretrain_config(folders, tmp_path / "prior", steps=1))
    train, val = folders
    common = dict(train_dir=train, val_dir=val, task=TaskSpec("denoise", noise_sigma=0.2), prior=prior.best_path,
                  folds=2, image_size=16, lr=1e-3, device="cpu")
    plain = finetune(FinetuneConfig(**common, out_dir=tmp_path / "plain", loop=LoopConfig(batch_size=8, max_steps=2)))
    aware = finetune(FinetuneConfig(**common, out_dir=tmp_path / "aware", init_from=plain.best_path,
                                    sigma_range=(0.02, 0.3), loop=LoopConfig(batch_size=8, max_steps=4)))
    model = load_model(aware.best_path)
    assert model.model.config.noise_conditioned and model.metadata["sigma_range"] == [0.02, 0.3]
    start = load_model(plain.best_path).model
    assert model.model.step_size_slope.abs().sum() > 0  # the slopes trained
    # mu and lambda started from the plain model's (its raw values moved only by training)
    assert (model.model.step_size_raw - start.step_size_raw).abs().max() < 0.2
    assert model.model.config.sigma_floor == 0.02  # its folds never run below the range they learned
    with pytest.raises(ValueError, match="sigma_range"):
        FinetuneConfig(**common, sigma_range=(0.3, 0.1))
    # a continuation keeps the measurement blend fitted to the file it starts from, and its mu and lambda
    fitted = tmp_path / "fitted.safetensors"
    model.model.config = replace(model.model.config, blend_error=0.03, flip_ensemble=True)
    save_model(fitted, model.model, extra={"task": model.metadata["task"], "sigma_range": [0.02, 0.3]})
    again = finetune(FinetuneConfig(**common, out_dir=tmp_path / "again", init_from=fitted, sigma_range=(0.02, 0.3),
                                    loop=LoopConfig(batch_size=8, max_steps=1)))
    continued = load_model(again.best_path).model
    assert continued.config.blend_error == 0.03 and continued.config.sigma_floor == 0.02
    assert continued.config.flip_ensemble  # an inference setting of the file goes on with it
    assert (continued.step_size_slope - model.model.step_size_slope).abs().max() < 0.1  # not restarted at 0


def test_blur_conditioned_finetune_trains_across_sigma_b_and_records_its_range(folders, tmp_path):
    prior = pretrain(_pretrain_config(folders, tmp_path / "prior", steps=1))
    train, val = folders
    task = TaskSpec("deblur", blur_sigma=5.0, blur_kernel=3)
    common = dict(train_dir=train, val_dir=val, task=task, prior=prior.best_path, folds=2, image_size=16, lr=1e-3,
                  device="cpu")
    config = FinetuneConfig(**common, out_dir=tmp_path / "aware", blur_range=(1.0, 8.0), blur_noise=0.02,
                            loop=LoopConfig(batch_size=8, max_steps=3))
    assert config.validation_blurs(5) == pytest.approx([1.0, 2.0, 4.0, 8.0, 1.0])
    from flowrestore.training.distributed import Context
    from flowrestore.training.finetune import FinetuneObjective

    objective = FinetuneObjective(config, Context(device=torch.device("cpu"), rank=0, world_size=1))
    blurs = {objective._triple(step)[3].blur_sigma for step in range(6)}
    assert len(blurs) > 1 and all(1.0 <= b <= 8.0 for b in blurs)  # one sigma_b per batch, drawn in the range
    assert sorted(objective.val_operators) == pytest.approx([1.0, 2.0, 4.0, 8.0])
    result = finetune(config)
    model = load_model(result.best_path)
    assert model.model.config.blur_conditioned and model.metadata["blur_range"] == [1.0, 8.0]
    assert model.model.step_size_slope.abs().sum() > 0  # the slopes trained
    for bad in (dict(blur_range=(8.0, 1.0)), dict(blur_range=(1.0, 8.0), sigma_range=(0.02, 0.3)),
                dict(blur_noise=0.5)):
        with pytest.raises(ValueError, match="blur"):
            FinetuneConfig(**common, **bad)
    with pytest.raises(ValueError, match="blur_range is for deblurring"):
        FinetuneConfig(**{**common, "task": TaskSpec.default("denoise")}, blur_range=(1.0, 8.0))
    with pytest.raises(ValueError, match="ridge initial guess is for deblurring"):
        FinetuneConfig(**{**common, "task": TaskSpec.default("inpaint")}, initial_guess="ridge")


def test_a_shared_prox_run_trains_one_flow_for_all_folds(folders, tmp_path):
    prior = pretrain(_pretrain_config(folders, tmp_path / "prior", steps=1))
    train, val = folders
    common = dict(train_dir=train, val_dir=val, task=TaskSpec.default("denoise"), prior=prior.best_path, folds=3,
                  image_size=16, lr=1e-3, device="cpu")
    result = finetune(FinetuneConfig(**common, out_dir=tmp_path / "shared", shared_prox=True,
                                     loop=LoopConfig(batch_size=8, max_steps=2)))
    model = load_model(result.best_path).model
    start = load_model(prior.best_path).model
    assert model.config.tied and len(model.proxes) == 1
    moved = [(a - b).abs().max() for a, b in zip(model.proxes[0].flow.parameters(), start.parameters())]
    assert max(moved) > 0  # the shared flow trained (plug-and-play's stays the prior)
    for bad in (dict(plug_and_play=True), dict(prox="unet")):
        with pytest.raises(ValueError, match="shared prox"):
            FinetuneConfig(**common, shared_prox=True, **bad)


def test_noise_aware_deblurring_trains_on_exact_files_and_noisy_measurements_told_apart(folders, tmp_path):
    from flowrestore.operators import STORAGE_SIGMA
    from flowrestore.training.distributed import Context
    from flowrestore.training.finetune import FinetuneObjective

    prior = pretrain(_pretrain_config(folders, tmp_path / "prior", steps=1))
    train, val = folders
    common = dict(train_dir=train, val_dir=val, task=TaskSpec("deblur", blur_sigma=1.5, blur_kernel=3),
                  prior=prior.best_path, folds=2, image_size=16, lr=1e-3, device="cpu", initial_guess="ridge")
    config = FinetuneConfig(**common, out_dir=tmp_path / "aware", sigma_range=(0.002, 0.02), eight_bit_fraction=0.5,
                            loop=LoopConfig(batch_size=16, max_steps=3))
    assert config.storage_noise and config.validation_levels(5) == [0.0, 0.0, 0.002, 0.02, 0.0]
    assert config.validation_storage(5) == [False, True, True, True, False]
    objective = FinetuneObjective(config, Context(device=torch.device("cpu"), rank=0, world_size=1))
    x, y, sigma, _ = objective._triple(0)
    rounded = (y * 255 - torch.round(y * 255)).flatten(1).abs().amax(1) < 1e-4  # which measurements are 8-bit files
    q, f32 = STORAGE_SIGMA["8bit"], STORAGE_SIGMA["float32"]
    assert sigma.shape == (16,) and bool((sigma > 0).all()) and bool((sigma <= 0.021).all())
    noise_free = sigma < 1.01 * q
    assert noise_free.any() and (~noise_free).any()
    # a noise-free measurement is told the rounding of where it is stored, and only that
    assert torch.allclose(sigma[noise_free & rounded], torch.tensor(q), rtol=1e-5)
    assert torch.allclose(sigma[noise_free & ~rounded], torch.tensor(f32), rtol=1e-5)
    x_val, y_val = objective.val_pairs
    assert objective.val_sigma[0] == pytest.approx(f32) and objective.val_sigma[1] == pytest.approx(q)
    assert torch.equal(y_val[1], torch.round(y_val[1] * 255) / 255)
    result = finetune(config)
    model = load_model(result.best_path).model
    assert model.config.noise_conditioned and model.config.storage_noise
    assert model.config.reference_sigma == pytest.approx(q)
    with pytest.raises(ValueError, match="blur_noise"):
        FinetuneConfig(**common, sigma_range=(0.002, 0.02), blur_noise=0.01)


def test_a_run_writes_metrics_csv_one_row_per_evaluation_across_resume(folders, tmp_path):
    import csv

    pretrain(_pretrain_config(folders, tmp_path, steps=8))
    pretrain(_pretrain_config(folders, tmp_path, steps=16), resume=True)
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [4, 8, 12, 16]
    assert all(r["monitor"] == "val_bpd" and float(r["value"]) > 0 and float(r["train_loss"]) > 0 for r in rows)
    assert all(float(r["images_per_s"]) > 0 and r["lr"] for r in rows)


def test_a_wiener_started_denoiser_fits_its_spectrum_on_the_training_images_and_keeps_it(folders, tmp_path):
    from flowrestore.solver.wiener import fit_spectrum
    from flowrestore.training import data

    prior = pretrain(_pretrain_config(folders, tmp_path / "prior", steps=1))
    train, val = folders
    common = dict(train_dir=train, val_dir=val, task=TaskSpec.default("denoise"), prior=prior.best_path, folds=2,
                  image_size=16, lr=1e-3, device="cpu", initial_guess="wiener")
    first = finetune(FinetuneConfig(**common, out_dir=tmp_path / "a", loop=LoopConfig(batch_size=8, max_steps=2)))
    model = load_model(first.best_path).model
    mean, table = fit_spectrum(data.to_unit(data.load_folder(train, 16, 3)))
    assert model.config.initial_guess == "wiener"
    assert model.config.wiener_mean == pytest.approx(mean) and len(model.config.wiener_spectrum) == len(table)
    assert model.config.wiener_spectrum[3] == pytest.approx(table[3], rel=1e-4)
    # continuing the file keeps the prior it was trained with, even on other training images
    other = tmp_path / "other"
    write_images(other, 12, size=16, seed=5)
    second = finetune(FinetuneConfig(**{**common, "train_dir": other}, init_from=first.best_path,
                                     out_dir=tmp_path / "b", loop=LoopConfig(batch_size=8, max_steps=1)))
    assert load_model(second.best_path).model.config.wiener_spectrum == model.config.wiener_spectrum
    with pytest.raises(ValueError, match="Wiener initial guess is for denoising"):
        FinetuneConfig(**{**common, "task": TaskSpec.default("deblur")})


def test_a_continued_noise_aware_denoiser_keeps_its_blend_towards_the_wiener_estimate(folders, tmp_path):
    from flowrestore.serialization import with_config

    prior = pretrain(_pretrain_config(folders, tmp_path / "prior", steps=1))
    train, val = folders
    common = dict(train_dir=train, val_dir=val, task=TaskSpec.default("denoise"), prior=prior.best_path, folds=2,
                  image_size=16, lr=1e-3, device="cpu", initial_guess="wiener", sigma_range=(0.02, 0.3))
    first = finetune(FinetuneConfig(**common, out_dir=tmp_path / "a", loop=LoopConfig(batch_size=8, max_steps=1)))
    fitted = tmp_path / "fitted.safetensors"
    with_config(first.best_path, fitted, blend_error=0.03, blend_power=4.0, blend_towards="wiener")
    again = finetune(FinetuneConfig(**common, init_from=fitted, out_dir=tmp_path / "b",
                                    loop=LoopConfig(batch_size=8, max_steps=1)))
    config = load_model(again.best_path).model.config
    assert (config.blend_towards, config.blend_error, config.blend_power) == ("wiener", 0.03, 4.0)
