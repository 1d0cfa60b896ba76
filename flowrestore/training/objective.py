"""What pretraining and fine-tuning share: data on the device, seeded batches, state, export."""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

import flowrestore
from flowrestore.errors import UsageError
from flowrestore.serialization import save_model
from flowrestore.training import data, rundir
from flowrestore.training.distributed import Context, setup, teardown
from flowrestore.training.graphed import GraphedStep
from flowrestore.training.loop import Callback, LoopConfig, LoopResult, run, total_steps


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    """What both training stages are configured with: data, loop, device and export."""

    train_dir: Path
    val_dir: Path | None = None
    out_dir: Path = Path("runs/train")
    image_size: int = 64
    channels: int = 3
    loop: LoopConfig = field(default_factory=LoopConfig)
    device: str = "auto"
    bf16: bool = False
    val_limit: int | None = None  # validate on the first N validation images
    export_dtype: str = "float32"
    cuda_graph: bool = False  # the training step recorded once as a CUDA graph, then replayed (training.graphed)
    # Learning rates falling linearly to zero over the run's last N steps (its --max-steps or --epochs): a
    # constant rate leaves batch-8 Adam wandering around a minimum that a cool-down settles into.
    cooldown_steps: int = 0

    def __post_init__(self) -> None:
        if self.cuda_graph and self.device == "cpu":
            raise UsageError("--cuda-graph records the training step on one CUDA device; this run is on cpu")
        if self.cooldown_steps < 0:
            raise UsageError(f"--cooldown must be at least 0, got {self.cooldown_steps}")
        if self.cooldown_steps and self.loop.max_steps is None and self.loop.epochs is None:
            raise UsageError("--cooldown counts back from the run's last step: give --max-steps or --epochs too")

    def to_dict(self) -> dict:
        """Plain values (paths as strings), stored in every checkpoint's metadata."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def check_image_size(image_size: int, multiple: int) -> None:
    """Training images must fit the model exactly: restore pads images, training does not."""
    if image_size < 1 or image_size % multiple:
        low = max(multiple, image_size - image_size % multiple)
        raise UsageError(
            f"--image-size {image_size} is not a multiple of {multiple}, which this model's levels need; "
            f"use --image-size {low} or {low + multiple}"
        )


def rate_factor(step: int, warmup: int, cooldown: int = 0, total: int | None = None) -> float:
    """The learning rates' factor at optimiser step `step` (0-based): a linear warm-up over the first
    `warmup` steps, and a linear cool-down to zero over the last `cooldown` of `total` steps (the last
    step still moves, by 1/cooldown of the rate)."""
    factor = min(1.0, (step + 1) / max(warmup, 1))
    if cooldown and total is not None:
        factor *= max(0.0, min(1.0, (total - step) / cooldown))
    return factor


def rate_schedule(optimizer: torch.optim.Optimizer, warmup: int, cooldown: int = 0,
                  total: int | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """Every learning rate scaled by rate_factor. The factor is a plain function of the step, so a resumed
    run given another cool-down or length follows the new schedule from its next step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: rate_factor(s, warmup, cooldown, total))


def autocast(device: torch.device, bf16: bool, cache: bool = True):
    """bf16 autocast on CUDA when asked for; a no-op elsewhere. `cache=False` for a step recorded as a
    CUDA graph: a cast cached at recording would be replayed stale (PyTorch's CUDA-graph notes)."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


class ImageObjective:
    """Base for objectives that train `self.model` on a folder of images held on the device.

    Subclasses set `self.model`, `self.optimizer`, `self.scheduler` and implement
    `train_step` and `evaluate`.
    """

    monitor: str
    higher_is_better: bool
    stage: str

    def __init__(self, config, ctx: Context):
        self.config, self.ctx = config, ctx
        size, ch = config.image_size, config.channels
        self.train = data.load_folder(config.train_dir, size, ch).to(ctx.device)
        self.val = (
            data.load_folder(config.val_dir, size, ch, config.val_limit).to(ctx.device)
            if config.val_dir
            else self.train[: min(512, self.train.shape[0])]
        )
        self.n_train = self.train.shape[0]
        self.fingerprint = data.fingerprint(config.train_dir)
        self.started = time.time()
        self.model: nn.Module
        self.net: nn.Module

    def generator(self, step: int) -> torch.Generator:
        """Randomness of step `step` (flips, dequantisation, noise), on the training device."""
        g = torch.Generator(device=self.ctx.device)
        return g.manual_seed(int(self.config.loop.seed) * 1_000_003 + int(step) + 1)

    def batch(self, step: int, generator: torch.Generator) -> torch.Tensor:
        """The global batch of step `step` as uint8, randomly flipped; this rank's shard of it."""
        loop = self.config.loop
        idx = data.batch_indices(self.n_train, loop.batch_size, loop.seed, step).to(self.ctx.device)
        x = self.train[idx]
        flip = torch.rand(x.shape[0], generator=generator, device=generator.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return self.ctx.shard(x)

    def initialize(self) -> None:
        """Data-dependent initialisation before training starts (none by default)."""

    def wrap_distributed(self) -> None:
        self.net = self.model
        if self.ctx.distributed:
            self.net = nn.parallel.DistributedDataParallel(self.model)

    def optimize(self, loss: torch.Tensor, max_grad_norm: float | None) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm:
            nn.utils.clip_grad_norm_(self.model.parameters(), max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()

    def loss(self, **inputs: torch.Tensor) -> torch.Tensor:
        """The training loss of one batch, from tensors only (what a recorded step can replay)."""
        raise NotImplementedError

    def record_steps(self) -> None:
        """Train through a step recorded as a CUDA graph (config.cuda_graph); call once the optimiser exists."""
        self.graphed = None
        if not self.config.cuda_graph:
            return
        if self.ctx.device.type != "cuda" or self.ctx.distributed:
            processes = f" with {self.ctx.world_size} processes" if self.ctx.distributed else ""
            raise UsageError(f"--cuda-graph records the training step on one CUDA device; this run is on "
                             f"{self.ctx.device}{processes}")
        self.graphed = GraphedStep(self.loss, self.optimizer, self.config.max_grad_norm)

    def last_step(self) -> int | None:
        """The run's last step when it has one (--max-steps or --epochs), else None (a time limit only)."""
        loop = self.config.loop
        return None if loop.max_steps is None and loop.epochs is None else total_steps(loop, self.n_train)

    def make_scheduler(self) -> torch.optim.lr_scheduler.LambdaLR:
        return rate_schedule(self.optimizer, self.config.warmup_steps, self.config.cooldown_steps, self.last_step())

    def steady_rates(self) -> bool:
        """True while the schedule holds the learning rates constant: past the warm-up, before the cool-down."""
        step = self.scheduler.last_epoch
        total = self.last_step()
        cooling = self.config.cooldown_steps and total is not None and step >= total - self.config.cooldown_steps
        return step >= self.config.warmup_steps - 1 and not cooling

    def step(self, **inputs: torch.Tensor) -> float:
        """One optimiser step on `inputs`: replayed once a warm-up no longer changes the learning rates
        (a recording bakes them in), else eager; a step that cannot be recorded goes on eagerly."""
        graphed = getattr(self, "graphed", None)
        if graphed is not None and self.steady_rates():
            try:
                loss = graphed(**inputs)
            except RuntimeError as error:  # e.g. an operation that cannot be recorded
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                warnings.warn(f"recording the training step as a CUDA graph failed ({reason}); training goes on "
                              "without it", RuntimeWarning, stacklevel=3)
                self.graphed = None
            else:
                self.scheduler.step()
                return float(loss)
        loss = self.loss(**inputs)
        self.optimize(loss, self.config.max_grad_norm)
        return float(loss.detach())

    def autocast(self):
        """bf16 autocast when configured; without its cast cache in a recorded step, where a cast cached at
        recording would be replayed stale (PyTorch's CUDA-graph notes)."""
        return autocast(self.ctx.device, self.config.bf16, cache=getattr(self, "graphed", None) is None)

    def state_dict(self) -> dict:
        optimizer = self.optimizer.state_dict()
        for group in optimizer["param_groups"]:  # a state saved by a recorded run resumes on a CPU too
            if "capturable" in group:
                group["capturable"] = False
        return {
            "model": self.model.state_dict(),
            "optimizer": optimizer,
            "scheduler": self.scheduler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if getattr(self, "graphed", None) is not None:
            self.graphed.reset()  # new weights and optimiser state: record the step again

    def extra_metadata(self) -> dict:
        return {}

    def export(self, path: Path, metrics: dict) -> None:
        dtype = torch.float16 if self.config.export_dtype == "float16" else None
        save_model(
            path,
            self.model,
            dtype=dtype,
            extra={
                "stage": self.stage,
                "training": self.config.to_dict(),
                "data_fingerprint": self.fingerprint,
                "metrics": metrics,
                "flowrestore_version": flowrestore.__version__,
                "device": str(self.ctx.device),
                "seconds": round(time.time() - self.started, 1),
                **self.extra_metadata(),
            },
        )


def train(
    objective_class, config, resume: bool = False, callback: Callback | None = None, force: bool = False
) -> LoopResult:
    """Check the run folder, set up the process (group), build the objective, initialise it
    unless resuming, run the loop.

    A folder that holds a run is refused unless `resume` (same configuration, checked) or
    `force` (the old run's files are deleted); see flowrestore.training.rundir.
    """
    # Before the process group: every rank checks, only rank 0 (torchrun's RANK) deletes.
    rundir.prepare(config.out_dir, resume, force, is_main=os.environ.get("RANK", "0") == "0")
    if resume:
        rundir.check_same_run(Path(config.out_dir), config.to_dict())
    ctx = setup(config.device)
    try:
        torch.manual_seed(config.loop.seed)
        if callback:
            callback({"event": "device", "device": str(ctx.device), "world_size": ctx.world_size})
        objective = objective_class(config, ctx)
        if not resume:
            objective.initialize()
        objective.wrap_distributed()
        return run(objective, config.loop, config.out_dir, resume=resume, callback=callback, is_main=ctx.is_main,
                   run_config=config.to_dict())
    finally:
        teardown(ctx)
