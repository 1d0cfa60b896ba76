"""A small training loop: steps, periodic evaluation, early stopping, checkpoints, resume.

It knows nothing about models. An *objective* provides `train_step(step) -> loss`,
`evaluate() -> metrics`, `state_dict()`/`load_state_dict()` (model, optimiser,
scheduler) and `export(path, metrics)` (the model checkpoint users load). All
randomness of a step derives from (seed, step), so a resumed run replays the exact
steps an uninterrupted run would take.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from flowrestore.errors import TrainingError, UsageError
from flowrestore.training import metrics_log
from flowrestore.training.rundir import BEST_FILE, LAST_FILE, STATE_FILE
from flowrestore.training.state import load_state, save_state

__all__ = ["BEST_FILE", "LAST_FILE", "STATE_FILE", "LoopConfig", "LoopResult", "TrainingError", "run"]


@dataclass(frozen=True)
class LoopConfig:
    batch_size: int = 64
    max_steps: int | None = None
    epochs: float | None = None
    time_limit: float | None = None  # seconds of training, evaluation included
    eval_every: int | None = None  # steps; default: once per epoch
    save_every: int | None = None  # steps between resume states; default: eval_every
    patience: int = 5  # evaluations without improvement before stopping
    seed: int = 0

    def __post_init__(self) -> None:
        at_least_one = {"batch_size": self.batch_size, "max_steps": self.max_steps, "eval_every": self.eval_every,
                        "save_every": self.save_every, "patience": self.patience}
        for name, value in at_least_one.items():
            if value is not None and value < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        for name, value in {"epochs": self.epochs, "time_limit": self.time_limit}.items():
            if value is not None and not (math.isfinite(value) and value > 0):
                raise UsageError(f"--{name.replace('_', '-')} must be a positive number, got {value}")

    def to_dict(self) -> dict:
        return asdict(self)


class Objective(Protocol):
    monitor: str
    higher_is_better: bool
    n_train: int

    def train_step(self, step: int) -> float: ...

    def evaluate(self) -> dict[str, float]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def export(self, path: Path, metrics: dict) -> None: ...


@dataclass
class LoopResult:
    step: int
    best: dict | None
    last: dict | None
    stop_reason: str
    seconds: float
    history: list = field(default_factory=list)
    best_path: Path | None = None
    model: object = None  # the trained model as it stands at the end (not the best one)


Callback = Callable[[dict], None]


def total_steps(config: LoopConfig, n_train: int) -> int:
    per_epoch = max(n_train // config.batch_size, 1)
    if config.max_steps is not None:
        return config.max_steps
    if config.epochs is not None:
        return max(int(round(config.epochs * per_epoch)), 1)
    if config.time_limit is not None:
        return 10**12
    raise UsageError("give --max-steps, --epochs or --time-limit so training knows when to stop")


def _log_row(run_dir: Path, objective, config: LoopConfig, step: int, per_epoch: int, score: float,
             since_eval: dict, seconds: float) -> None:
    """One metrics.csv row: the mean training loss since the last evaluation, the monitored score."""
    now = time.monotonic()
    images = (step - since_eval["first"]) * config.batch_size
    metrics_log.append(run_dir, {
        "step": step, "epoch": round(step / per_epoch, 4),
        "train_loss": since_eval["loss"] / max(since_eval["steps"], 1),
        "monitor": objective.monitor, "value": score, "lr": metrics_log.learning_rates(objective),
        "images_per_s": round(images / max(now - since_eval["start"], 1e-9), 3), "seconds": round(seconds, 1),
    })


@dataclass
class _Position:
    """Where a run stands, saved with every state so that a resume continues exactly."""

    step: int = 0
    best: dict | None = None  # the best evaluation so far
    bad_evals: int = 0  # evaluations since the best one
    history: list = field(default_factory=list)  # every evaluation

    def state(self) -> dict:
        return {"step": self.step, "best": self.best, "bad_evals": self.bad_evals, "history": self.history}


def run(
    objective: Objective,
    config: LoopConfig,
    run_dir: Path,
    resume: bool = False,
    callback: Callback | None = None,
    is_main: bool = True,
    run_config: dict | None = None,
) -> LoopResult:
    """Train until max steps / epochs / time limit / early stopping; only `is_main` writes files.

    `run_config` (plain values) is saved with every state, so that a resume can be checked
    against the configuration the run started with (flowrestore.training.rundir).
    """
    run_dir = Path(run_dir)
    emit = callback or (lambda event: None)
    per_epoch = max(objective.n_train // config.batch_size, 1)
    eval_every = config.eval_every or per_epoch
    save_every = config.save_every or eval_every
    total = total_steps(config, objective.n_train)
    start = time.monotonic()
    at = _resumed(objective, run_dir) if resume else _Position()
    if resume:
        emit({"event": "resumed", "step": at.step})
        done = _finished(at.step, total, at.bad_evals, config)
        if done:
            emit({"event": "finished", "step": at.step, "reason": done})
            last = at.history[-1] if at.history else None
            return _result(at, last, "already finished, nothing trained", 0.0, run_dir, objective)

    def save() -> None:
        if is_main:
            save_state(run_dir / STATE_FILE, {"objective": objective.state_dict(), **at.state(), "config": run_config})

    last_tick, last_step = start, at.step
    stop_reason = "finished"
    last_metrics = None
    since_eval = {"loss": 0.0, "steps": 0, "start": start, "first": at.step}  # for metrics.csv
    while at.step < total:
        loss = objective.train_step(at.step)
        since_eval["loss"] += loss
        since_eval["steps"] += 1
        if not math.isfinite(loss):
            raise TrainingError(f"the loss became {loss} at step {at.step}; {_what_is_left(run_dir, at.best)}")
        at.step += 1
        now = time.monotonic()
        out_of_time = config.time_limit is not None and now - start >= config.time_limit
        if at.step % eval_every == 0 or at.step == total or out_of_time:
            last_metrics = _evaluate(objective, at, run_dir, is_main)
            save()
            if is_main:
                score = last_metrics[objective.monitor]
                _log_row(run_dir, objective, config, at.step, per_epoch, score, since_eval, now - start)
            since_eval = {"loss": 0.0, "steps": 0, "start": now, "first": at.step}
            emit({"event": "eval", "step": at.step, "metrics": last_metrics, "best": at.best})
            if at.bad_evals >= config.patience:
                stop_reason = "early stopping"
                break
        elif at.step % save_every == 0:
            save()
        rate = (at.step - last_step) * config.batch_size / max(now - last_tick, 1e-9)
        last_tick, last_step = now, at.step
        emit({"event": "step", "step": at.step, "total": total, "loss": loss, "images_per_s": rate,
              "epoch": at.step / per_epoch, "elapsed": now - start})
        if out_of_time:
            stop_reason = "time limit"
            break
    return _result(at, last_metrics, stop_reason, time.monotonic() - start, run_dir, objective)


def _resumed(objective: Objective, run_dir: Path) -> _Position:
    """The objective's state and the run's position, from the run folder's saved state."""
    state_path = run_dir / STATE_FILE
    if not state_path.exists():
        raise TrainingError(f"nothing to resume: {state_path} does not exist; start without --resume")
    state = load_state(state_path)
    objective.load_state_dict(state["objective"])
    return _Position(state["step"], state["best"], state["bad_evals"], state["history"])


def _evaluate(objective: Objective, at: _Position, run_dir: Path, is_main: bool) -> dict:
    """Evaluate; export the model as the last and, when it improves, as the best checkpoint."""
    metrics = {"step": at.step, **objective.evaluate()}
    at.history.append(metrics)
    score = metrics[objective.monitor]
    best = None if at.best is None else at.best[objective.monitor]
    improves = best is None or (score > best if objective.higher_is_better else score < best)
    # A non-finite score (a diverged evaluation) is never the best one.
    if math.isfinite(score) and improves:
        at.best, at.bad_evals = metrics, 0
        if is_main:
            objective.export(run_dir / BEST_FILE, at.best)
    else:
        at.bad_evals += 1
    if is_main:
        objective.export(run_dir / LAST_FILE, metrics)
    return metrics


def _result(at: _Position, last: dict | None, stop_reason: str, seconds: float, run_dir: Path,
            objective: Objective) -> LoopResult:
    return LoopResult(step=at.step, best=at.best, last=last, stop_reason=stop_reason, seconds=seconds,
                      history=at.history, best_path=_best_path(run_dir, at.best),
                      model=getattr(objective, "model", None))


def _best_path(run_dir: Path, best: dict | None) -> Path | None:
    return run_dir / BEST_FILE if best is not None else None


def _finished(step: int, total: int, bad_evals: int, config: LoopConfig) -> str:
    """Why a resumed run has nothing left to do ("" if it has)."""
    if step >= total:
        return f"it reached step {step} of {total}; raise --max-steps or --epochs to train further"
    if bad_evals >= config.patience:
        return f"it stopped early after {bad_evals} evaluations without improvement; raise --patience to go on"
    return ""


def _what_is_left(run_dir: Path, best: dict | None) -> str:
    """The advice after a divergence: which file holds the last good model, if any."""
    again = "lower the learning rate and start again (another --output, or --force)"
    if best is None or not (run_dir / BEST_FILE).exists():
        return f"no checkpoint was written before it; {again}"
    return f"the best checkpoint so far is {run_dir / BEST_FILE} (step {best.get('step')}); {again}"
