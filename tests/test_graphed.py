"""A recorded-and-replayed training step trains exactly as the eager step does.

CPUs have no CUDA graphs, so the recording here is a stand-in that runs the warm-up as CUDA's does
and then replays the body eagerly: what is tested is everything around the graph (static inputs,
undoing the warm-up, recording again when the learning rate changes), not CUDA itself.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from cli_fixtures import tiny_solver

from flowrestore import devices
from flowrestore.errors import UsageError
from flowrestore.serialization import save_model
from flowrestore.operators import Denoise, TaskSpec
from flowrestore.training import FinetuneConfig, LoopConfig
from flowrestore.training.graphed import WARMUP_RUNS, GraphedStep


def fake_capture(body):
    """CUDA's recording, on a CPU: the warm-up runs, then a 'replay' that runs the body."""
    for _ in range(WARMUP_RUNS):
        body()
    return body


def _setup(lr: float = 1e-3):
    torch.manual_seed(0)
    solver = tiny_solver().train()
    optimizer = torch.optim.Adam([{"params": [solver.step_size_raw, solver.shrinkage_raw], "lr": 1e-2},
                                  {"params": list(solver.proxes.parameters()), "lr": lr}])
    op = Denoise()

    def loss_fn(x, y):
        return torch.mean((solver(y, op) - x) ** 2)

    return solver, optimizer, loss_fn


def _batches(n: int):
    g = torch.Generator().manual_seed(1)
    for _ in range(n):
        x = torch.rand(4, 3, 8, 8, generator=g)
        yield x, x + 0.2 * torch.randn(x.shape, generator=g)


def _eager(steps: int, optimizer, loss_fn, max_grad_norm, params):
    losses = []
    for x, y in _batches(steps):
        loss = loss_fn(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_replayed_steps_train_exactly_as_eager_steps_the_warm_up_undone():
    eager_solver, eager_opt, eager_loss = _setup()
    eager_losses = _eager(4, eager_opt, eager_loss, 0.5, list(eager_solver.parameters()))

    solver, optimizer, loss_fn = _setup()
    step = GraphedStep(loss_fn, optimizer, max_grad_norm=0.5, capture=fake_capture)
    losses = [float(step(x=x, y=y)) for x, y in _batches(4)]

    assert step.recordings == 1  # recorded once, replayed for every step
    assert losses == pytest.approx(eager_losses, rel=1e-6, abs=0)
    for mine, theirs in zip(solver.parameters(), eager_solver.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=1e-9)
    # Adam's step count says 4 steps, not 4 + the warm-up's 3
    assert all(int(s["step"]) == 4 for s in optimizer.state.values())


def test_a_step_recorded_on_a_trained_optimiser_keeps_its_state():
    eager_solver, eager_opt, eager_loss = _setup()
    _eager(3, eager_opt, eager_loss, 10.0, list(eager_solver.parameters()))
    solver, optimizer, loss_fn = _setup()
    _eager(2, optimizer, loss_fn, 10.0, list(solver.parameters()))  # the same first two batches
    step = GraphedStep(loss_fn, optimizer, max_grad_norm=10.0, capture=fake_capture)
    x, y = list(_batches(3))[2]
    step(x=x, y=y)
    for mine, theirs in zip(solver.parameters(), eager_solver.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=1e-9)


def test_a_new_learning_rate_or_input_shape_records_the_step_again():
    _, optimizer, loss_fn = _setup()
    step = GraphedStep(loss_fn, optimizer, capture=fake_capture)
    batches = list(_batches(3))
    step(x=batches[0][0], y=batches[0][1])
    step(x=batches[1][0], y=batches[1][1])
    assert step.recordings == 1
    optimizer.param_groups[1]["lr"] = 5e-4  # a schedule moved it: the recording holds the old value
    step(x=batches[2][0], y=batches[2][1])
    assert step.recordings == 2
    step(x=batches[2][0][:2], y=batches[2][1][:2])  # another batch size
    assert step.recordings == 3
    step.reset()
    step(x=batches[2][0][:2], y=batches[2][1][:2])
    assert step.recordings == 4


def test_a_failed_recording_leaves_the_model_untouched():
    solver, optimizer, loss_fn = _setup()
    before = [p.detach().clone() for p in solver.parameters()]

    def failing(body):
        for _ in range(WARMUP_RUNS):
            body()
        raise RuntimeError("operation not permitted when stream is capturing")

    step = GraphedStep(loss_fn, optimizer, capture=failing)
    x, y = next(_batches(1))
    with pytest.raises(RuntimeError, match="capturing"):
        step(x=x, y=y)
    for p, b in zip(solver.parameters(), before):
        assert torch.equal(p, b)
    assert all(int(s["step"]) == 0 for s in optimizer.state.values())


def test_cuda_graph_training_is_refused_off_cuda_and_with_a_blur_range(tmp_path):
    from helpers import write_images

    from flowrestore.training import finetune

    train = write_images(tmp_path / "train", 4)
    config = FinetuneConfig(train_dir=train, task=TaskSpec.default("denoise"), prox="unet", image_size=16,
                            out_dir=tmp_path / "run", device="auto", cuda_graph=True, loop=LoopConfig(max_steps=1))
    if not torch.cuda.is_available():  # "auto" found no GPU
        with pytest.raises(UsageError, match="one CUDA device; this run is on cpu"):
            finetune(config)
    with pytest.raises(UsageError, match="one CUDA device; this run is on cpu"):
        replace(config, device="cpu")  # said before any data is read
    with pytest.raises(UsageError, match="blur_range"):
        replace(config, task=TaskSpec.default("deblur"), prox="glow", blur_range=(1.0, 8.0))


def _objective(tmp_path, name: str, **options):
    from helpers import write_images

    from flowrestore.training.distributed import Context
    from flowrestore.training.finetune import FinetuneObjective

    train = tmp_path / "train"
    if not train.exists():
        write_images(train, 16)
    config = FinetuneConfig(train_dir=train, task=TaskSpec("inpaint", box=6), prox="unet", image_size=16,
                            out_dir=tmp_path / name, device="cpu", box_jitter=3, warmup_steps=3, lr=1e-3,
                            loop=LoopConfig(batch_size=4, max_steps=6), **options)
    torch.manual_seed(0)
    return FinetuneObjective(config, Context(device=torch.device("cpu"), rank=0, world_size=1))


def test_the_fine_tune_objective_replays_after_its_warm_up_with_each_batch_s_boxes(tmp_path):
    eager = _objective(tmp_path, "eager")
    eager_losses = [eager.train_step(s) for s in range(6)]
    graphed = _objective(tmp_path, "graphed")
    graphed.graphed = GraphedStep(graphed.loss, graphed.optimizer, graphed.config.max_grad_norm, capture=fake_capture)
    losses = [graphed.train_step(s) for s in range(6)]
    assert graphed.graphed.recordings == 1  # steps 0-1 eager while the warm-up raises the rate, then one recording
    assert losses == pytest.approx(eager_losses, rel=1e-5)
    for mine, theirs in zip(graphed.model.parameters(), eager.model.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-8)
    # a saved state resumes anywhere: a CPU optimiser cannot be capturable
    assert not any(g["capturable"] for g in graphed.state_dict()["optimizer"]["param_groups"])


def test_a_step_that_cannot_be_recorded_trains_on_eagerly_with_a_warning(tmp_path):
    eager = _objective(tmp_path, "eager")
    eager_losses = [eager.train_step(s) for s in range(4)]
    objective = _objective(tmp_path, "failing")

    def failing(body):
        body()
        raise RuntimeError("operation not permitted when stream is capturing\nmore")

    objective.graphed = GraphedStep(objective.loss, objective.optimizer, objective.config.max_grad_norm,
                                    capture=failing)
    losses = [objective.train_step(s) for s in range(2)]
    with pytest.warns(RuntimeWarning, match=r"CUDA graph failed \(operation not permitted when stream is capturing\)"):
        losses.append(objective.train_step(2))
    losses.append(objective.train_step(3))
    assert objective.graphed is None
    assert losses == pytest.approx(eager_losses, rel=1e-5)


def test_pretraining_replays_its_step_exactly_as_it_trains_eagerly(tmp_path):
    from helpers import TINY_GLOW, write_images

    from flowrestore.training import PretrainConfig
    from flowrestore.training.distributed import Context
    from flowrestore.training.pretrain import PretrainObjective

    train = write_images(tmp_path / "train", 16)

    def objective(name: str) -> PretrainObjective:
        config = PretrainConfig(train_dir=train, image_size=16, glow=TINY_GLOW, out_dir=tmp_path / name,
                                device="cpu", warmup_steps=2, loop=LoopConfig(batch_size=4, max_steps=5))
        torch.manual_seed(0)
        made = PretrainObjective(config, Context(device=torch.device("cpu"), rank=0, world_size=1))
        made.initialize()
        return made

    eager = objective("eager")
    eager_losses = [eager.train_step(s) for s in range(5)]
    graphed = objective("graphed")
    graphed.graphed = GraphedStep(graphed.loss, graphed.optimizer, graphed.config.max_grad_norm, capture=fake_capture)
    losses = [graphed.train_step(s) for s in range(5)]
    assert graphed.graphed.recordings == 1
    assert losses == pytest.approx(eager_losses, rel=1e-5)
    for mine, theirs in zip(graphed.model.parameters(), eager.model.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("command", [["pretrain"], ["finetune", "--task", "inpaint", "--prox", "unet"]])
def test_the_cli_refuses_cuda_graph_on_the_cpu_in_one_line(tmp_path, command):
    from helpers import write_images
    from typer.testing import CliRunner

    from flowrestore.cli import app

    images = write_images(tmp_path / "images", 4)
    result = CliRunner().invoke(app, [*command, "--data", str(images), "--max-steps", "1", "--cuda-graph",
                                      "--device", "cpu", "-o", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        "error: --cuda-graph records the training step on one CUDA device; this run is on cpu"]
    assert not (tmp_path / "run").exists()


class HostRead(AssertionError):
    pass


class Strict:
    """A stand-in recording that fails where CUDA's would: a read of a tensor's value on the host (bool,
    item, tolist, float, int) anywhere in the recorded step (forward, backward, clipping). Warm-up runs
    may read, and so may Adam's step: on a CPU it takes its non-capturable path, which reads its step
    count; on a GPU the step is capturable."""

    READS = ("__bool__", "item", "tolist", "__float__", "__int__", "__index__", "numpy")

    def __init__(self, monkeypatch, optimizer):
        self.recording = False
        for name in self.READS:
            original = getattr(torch.Tensor, name)

            def guarded(tensor, *args, _name=name, _original=original, **kwargs):
                if self.recording:
                    raise HostRead(f"Tensor.{_name} read a value on the host while recording")
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, guarded)
        monkeypatch.setattr(devices, "recording_graph", lambda tensor: self.recording)
        step = optimizer.step

        def adam_step(*args, **kwargs):
            recording, self.recording = self.recording, False
            try:
                return step(*args, **kwargs)
            finally:
                self.recording = recording

        adam_step._wrapped_by_lr_sched = True  # what the scheduler's own wrapper says of itself
        monkeypatch.setattr(optimizer, "step", adam_step)

    def capture(self, body):
        for _ in range(WARMUP_RUNS):
            body()
        self.recording = True
        try:
            body()
        finally:
            self.recording = False
        return body


@pytest.mark.parametrize("model", ["denoise", "denoise, memory saving", "noise-aware denoise", "jittered inpaint",
                                   "noise-aware deblur", "noise-aware denoise, Wiener start", "prior"])
def test_the_recorded_steps_read_nothing_on_the_host(tmp_path, monkeypatch, model):
    """What a CUDA graph cannot record: a value read on the host mid-step. The pipeline records these
    models' steps on GPUs. (Copies between host and device cannot be seen on a CPU: the ridge's blur
    factors and the Wiener guess's spectrum, the only such copies, are cached by the warm-up.)"""
    from helpers import TINY_GLOW, write_images

    from flowrestore.training import PretrainConfig
    from flowrestore.training.distributed import Context
    from flowrestore.training.finetune import FinetuneObjective
    from flowrestore.training.pretrain import PretrainObjective

    train = write_images(tmp_path / "train", 16)
    ctx = Context(device=torch.device("cpu"), rank=0, world_size=1)
    loop = LoopConfig(batch_size=4, max_steps=3)
    torch.manual_seed(0)
    if model == "prior":
        objective = PretrainObjective(PretrainConfig(train_dir=train, image_size=16, glow=TINY_GLOW, device="cpu",
                                                     warmup_steps=0, loop=loop, out_dir=tmp_path / "p"), ctx)
        objective.initialize()
    else:
        prior = tmp_path / "prior.safetensors"
        save_model(prior, tiny_solver().proxes[0].flow)
        task = {"jittered inpaint": TaskSpec("inpaint", box=6),
                "noise-aware deblur": TaskSpec.default("deblur")}.get(model, TaskSpec.default("denoise"))
        options = {"noise-aware denoise": {"sigma_range": (0.02, 0.3)}, "denoise, memory saving": {},
                   "noise-aware deblur": {"sigma_range": (0.002, 0.02), "initial_guess": "ridge",
                                          "eight_bit_fraction": 0.5},
                   "noise-aware denoise, Wiener start": {"sigma_range": (0.02, 0.3), "initial_guess": "wiener",
                                                         "eight_bit_fraction": 0.5},
                   "jittered inpaint": {"box_jitter": 3}, "denoise": {"eight_bit_fraction": 0.5}}[model]
        objective = FinetuneObjective(FinetuneConfig(train_dir=train, task=task, prior=prior, folds=2, image_size=16,
                                                     device="cpu", memory_saving="memory saving" in model, loop=loop,
                                                     out_dir=tmp_path / "f", **options), ctx)
    strict = Strict(monkeypatch, objective.optimizer)
    objective.graphed = GraphedStep(objective.loss, objective.optimizer, objective.config.max_grad_norm,
                                    capture=strict.capture)
    losses = [objective.train_step(s) for s in range(3)]
    assert objective.graphed is not None and objective.graphed.recordings == 1, "the step fell back to eager"
    assert all(math.isfinite(v) for v in losses)
