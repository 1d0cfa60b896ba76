"""Train a shipped model further for a time budget, resuming its own run across sessions.

A model's run folder (state_root/<name>) holds the loop's resumable state and a lineage
file: the sha256 the run started from, those it has shipped since, and its learning-rate scale
(flowrestore.shipping.schedule). A run continues only while the shipped file is one of those and
the scale is unchanged; when another file was shipped (e.g. from a GPU run) or the scale was
lowered, the old folder is set aside and a new run starts from the shipped weights.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from flowrestore.checkpoints import Entry, load_registry, sha256_of
from flowrestore.operators import TaskSpec
from flowrestore.serialization import read_metadata
from flowrestore.shipping.schedule import lr_scale
from flowrestore.training import FinetuneConfig, LoopConfig, LoopResult, PretrainConfig, finetune, pretrain
from flowrestore.training.loop import STATE_FILE

LINEAGE = "lineage.json"


@dataclass(frozen=True)
class Recipe:
    """How a model is trained further on one kind of device."""

    batch_size: int
    lr: float  # flow weights
    lr_scalars: float  # step sizes and shrinkages (task models)
    eval_every: int  # steps
    val_limit: int  # the loop's own quick validation (the shipping decision uses the full set)
    bf16: bool = False
    seed: int = 1
    warmup_steps: int = 0  # linear learning-rate warm-up over a run's first steps
    cuda_graph: bool = False  # the training step recorded as a CUDA graph (flowrestore.training.graphed)


# CPU: the recipe of the shipped models' CPU continuation (docs/training.md); one thread each.
# CUDA: the fine-tune step is launch-bound (its time hardly grows with the batch: docs/training.md,
# "Throughput"), so a GPU slice takes 32x the CPU batch at the CPU's learning rate: the same update
# size (Adam), a far less noisy gradient. Full float32: TF32 is off (flowrestore.devices.exact_float32), and
# bf16 only adds casts to small convolutions.
RECIPES: dict[tuple[str, str], Recipe] = {
    ("cpu", "solver"): Recipe(batch_size=8, lr=1e-4, lr_scalars=1e-2, eval_every=40, val_limit=48, warmup_steps=100),
    ("cpu", "glow"): Recipe(batch_size=16, lr=1e-4, lr_scalars=0.0, eval_every=50, val_limit=96, warmup_steps=100),
    ("cuda", "solver"): Recipe(batch_size=256, lr=1e-4, lr_scalars=1e-2, eval_every=50, val_limit=256,
                               warmup_steps=50, cuda_graph=True),
    ("cuda", "glow"): Recipe(batch_size=256, lr=2.5e-4, lr_scalars=0.0, eval_every=200, val_limit=490,
                             warmup_steps=100, cuda_graph=True),
}


# Per task, on top of the recipe. Denoising and deblurring train on half their measurements as 8-bit
# files hold them (clipped, rounded): users' images are such files (docs/training.md, "8-bit inputs").
TASK_OPTIONS: dict[str, dict] = {"denoise": {"eight_bit_fraction": 0.5}, "deblur": {"eight_bit_fraction": 0.5}}
# A blur-conditioned deblurrer without a record of its own: a little noise (sigma <= 0.02, not told to the
# model) and half 8-bit files. A file that records how it was trained goes on training that way (the one
# measured in docs/results/deblur-sweep.md had no noise).
BLUR_AWARE_OPTIONS: dict = {"blur_noise": 0.02, "eight_bit_fraction": 0.5}


@dataclass(frozen=True)
class Slice:
    """What one training slice produced."""

    name: str
    run_dir: Path
    best_path: Path | None
    steps: int
    seconds: float
    device: str
    resumed: bool
    stop_reason: str
    lr: float = 0.0  # the flow weights' learning rate


def _lineage(run_dir: Path) -> dict:
    path = run_dir / LINEAGE
    return json.loads(path.read_text()) if path.exists() else {}


def record_shipped(run_dir: Path, sha: str) -> None:
    """Note that `sha` (a file shipped from this run) may continue this run."""
    lineage = _lineage(run_dir)
    lineage.setdefault("shipped", []).append(sha)
    (run_dir / LINEAGE).write_text(json.dumps(lineage, indent=1))


def _prepare(run_dir: Path, shipped_sha: str, lr_scale: float = 1.0) -> bool:
    """True to resume `run_dir`; otherwise it is set aside and a new run starts there."""
    lineage = _lineage(run_dir)
    if ((run_dir / STATE_FILE).exists() and shipped_sha in [lineage.get("start"), *lineage.get("shipped", [])]
            and lineage.get("lr_scale", 1.0) == lr_scale):
        return True
    if run_dir.exists():
        run_dir.rename(run_dir.with_name(f"{run_dir.name}.before-{time.strftime('%Y%m%d-%H%M%S')}"))
    run_dir.mkdir(parents=True)
    (run_dir / LINEAGE).write_text(json.dumps({"start": shipped_sha, "shipped": [], "lr_scale": lr_scale}, indent=1))
    return False


def shipped_files(root: Path, name: str) -> tuple[Entry, Path, Path]:
    """The registry entry of model `name` in the repository at `root`, its bundled file and the bundled prior."""
    registry = load_registry(Path(root) / "flowrestore" / "checkpoints.toml")
    entry = registry[name]
    return entry, Path(root) / "flowrestore" / entry.file, Path(root) / "flowrestore" / registry["celeba-prior"].file


def common_settings(recipe: Recipe, data: Path, run_dir: Path, seconds: float, device: str) -> dict:
    """The stage settings every continued model shares: data, run folder, loop and device."""
    loop = LoopConfig(batch_size=recipe.batch_size, time_limit=seconds, eval_every=recipe.eval_every,
                      patience=1_000_000, seed=recipe.seed)
    return dict(train_dir=data / "train", val_dir=data / "val", out_dir=run_dir, loop=loop, device=device,
                bf16=recipe.bf16, val_limit=recipe.val_limit)


def continue_model(entry: Entry, shipped: Path, prior: Path, data: Path, state_root: Path, seconds: float,
                   device: str, callback=None, cuda_graph: bool = True) -> Slice:
    """Train the model of registry `entry` (file `shipped`) for `seconds` more; `data` holds train/ and val/.

    Task models train at the paper's Table I setting of their task; priors by likelihood. The flow
    weights' learning rate is the recipe's times the model's scale in the state folder's schedule.
    `cuda_graph=False` trains eagerly where the recipe would record the step as a CUDA graph.
    """
    run_dir = Path(state_root) / entry.name
    scale = lr_scale(state_root, entry.name)
    resume = _prepare(run_dir, sha256_of(shipped), scale)
    recipe = RECIPES[(device.split(":")[0], entry.kind)]
    recipe = replace(recipe, lr=recipe.lr * scale, cuda_graph=recipe.cuda_graph and cuda_graph)
    common = common_settings(recipe, data, run_dir, seconds, device)
    start = None if resume else shipped  # a resumed run takes every weight from its state
    if entry.kind == "glow":
        result: LoopResult = pretrain(
            PretrainConfig(**common, init_from=start, lr=recipe.lr, warmup_steps=recipe.warmup_steps,
                           cuda_graph=recipe.cuda_graph), resume=resume,
            callback=callback
        )
    else:
        config = continuation_config(entry, shipped, prior, recipe, common, start)
        result = finetune(config, resume=resume, callback=callback)
    return Slice(entry.name, run_dir, result.best_path, result.step, result.seconds, device, resume,
                 result.stop_reason, recipe.lr)


def continuation_config(entry: Entry, shipped: Path, prior: Path, recipe: Recipe, common: dict,
                        start: Path | None) -> FinetuneConfig:
    """How a task model goes on training: its Table I task, the recipe, the task's options, and what
    its file says of itself (folds, noise or blur range, a shrinkage per level, its initial guess)."""
    meta = read_metadata(shipped)
    options = dict(TASK_OPTIONS.get(entry.task_name, {}))
    if "sigma_range" in meta:  # a noise-conditioned model goes on training across its range
        options["sigma_range"] = tuple(meta["sigma_range"])
    training = meta.get("training", {})
    if "blur_range" in meta:  # likewise a blur-conditioned one, with its training noise and 8-bit share
        options.update(blur_range=tuple(meta["blur_range"]),
                       **{key: training.get(key, value) for key, value in BLUR_AWARE_OPTIONS.items()})
    jitter = training.get("box_jitter", 0)
    if jitter:  # an inpainter trained on shifted boxes keeps training on them, or it forgets them
        options["box_jitter"] = jitter
    config = meta["config"]
    graph = recipe.cuda_graph and "blur_range" not in options  # a graph replays one blur, not one per batch
    return FinetuneConfig(**common, task=TaskSpec.default(entry.task_name), prior=prior, init_from=start,
                          folds=config["folds"], shrink_last=config["shrink_last"],
                          level_shrinkage=config.get("level_shrinkage", False),
                          initial_guess=config.get("initial_guess", "prior"),
                          ridge_balance=config.get("ridge_balance", 1e-3),
                          lr=recipe.lr, lr_scalars=recipe.lr_scalars, warmup_steps=recipe.warmup_steps,
                          memory_saving=False, cuda_graph=graph, **options)
