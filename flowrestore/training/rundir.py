"""A run folder's rules: a new run never replaces an old one, a resumed run is the same run.

- A folder that already holds a run (best, last or state file) is refused unless the run is
  resumed (`resume`) or deliberately replaced (`force`, which deletes the old run's files first).
- Resuming compares the configuration saved with the run against the given one and refuses a
  change of anything that shapes the training (learning rates, seed, batch size, image size,
  architecture, task, data), naming what changed. How long to train (epochs, max steps, time
  limit, patience), the device, bf16 and where files go may change.
- Temporary files that a killed write left behind (.<name>.<random>.tmp) are deleted at start.
"""

from __future__ import annotations

import os
from pathlib import Path

from flowrestore.errors import TrainingError

STATE_FILE = "state.safetensors"
BEST_FILE = "best.safetensors"
LAST_FILE = "last.safetensors"
RUN_FILES = (BEST_FILE, LAST_FILE, STATE_FILE, "metrics.csv")

# Keys of StageConfig.to_dict() (dotted for nested values) a resumed run may change.
# Resources may change (device, bf16, memory saving: the same gradients up to rounding), and so may
# the starting weights (--init-from): a resumed run takes every weight from its state, and the
# warm-up and cool-down, which shape only a run's first and last steps.
MAY_CHANGE = {"out_dir", "device", "bf16", "memory_saving", "warmup_steps", "cooldown_steps", "loop.epochs",
              "loop.max_steps", "loop.time_limit", "loop.patience", "loop.save_every", "init_from"}
PATH_KEYS = {"train_dir", "val_dir", "prior", "init_from"}
# Option names for the keys whose CLI option is not simply --<last part of the key>.
OPTION_NAMES = {"train_dir": "--data", "val_dir": "--val", "warmup_steps": "--warmup", "cooldown_steps": "--cooldown",
                "noise_sigma": "--sigma", "plug_and_play": "--plug-and-play"}


def stale_temporaries(run_dir: Path) -> list[Path]:
    """Temporary files of atomic_write (.<name>.<random>.tmp) for the run's files."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted(p for name in RUN_FILES for p in run_dir.glob(f".{name}.*.tmp") if p.is_file())


def prepare(run_dir: Path, resume: bool, force: bool, is_main: bool = True) -> None:
    """Check that a run may start in `run_dir`; clean what a killed run left behind.

    Raises TrainingError for a folder that holds a run when neither `resume` nor `force` is
    given, and for `resume` without a saved state. With `force` the old run's files are deleted.
    """
    run_dir = Path(run_dir)
    if resume and force:
        raise TrainingError("--resume continues a run and --force replaces it; give one of them")
    if run_dir.exists() and not run_dir.is_dir():
        raise TrainingError(f"--output {run_dir} is a file, not a folder; choose another --output")
    if is_main:
        for tmp in stale_temporaries(run_dir):
            tmp.unlink(missing_ok=True)
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
    if resume:
        if not (run_dir / STATE_FILE).exists():
            raise TrainingError(
                f"nothing to resume: {run_dir / STATE_FILE} does not exist; start without --resume"
            )
        return
    if existing and not force:
        raise TrainingError(
            f"{run_dir} already holds a run ({', '.join(existing)}); pass --resume to continue it, "
            "--force to replace it, or choose another --output"
        )
    if existing and is_main:
        for name in existing:
            (run_dir / name).unlink(missing_ok=True)


def _flat(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out: dict = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    if isinstance(value, tuple):
        value = list(value)
    return {prefix[:-1]: value}


def _same_place(a, b) -> bool:
    """Two recorded paths name the same data: the same folder or file once links are resolved,
    or two files with the same bytes (a run moved to another checkout keeps its prior)."""
    if not (isinstance(a, str) and isinstance(b, str)):
        return a == b
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if not (pa.exists() and pb.exists()):
        return os.path.abspath(pa) == os.path.abspath(pb)
    if pa.resolve() == pb.resolve():
        return True
    if pa.is_file() and pb.is_file() and pa.stat().st_size == pb.stat().st_size:
        from flowrestore.checkpoints import sha256_of
        return sha256_of(pa) == sha256_of(pb)
    return False


def _normal(key: str, value):
    if key in PATH_KEYS and isinstance(value, str):
        return os.path.abspath(os.path.expanduser(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # 1e-3 and 0.001, 5 and 5.0 are the same setting
    return value


def option_name(key: str) -> str:
    last = key.split(".")[-1]
    if key.startswith("glow."):
        return f"--preset (glow {last})"
    return OPTION_NAMES.get(last, "--" + last.replace("_", "-"))


def changes(saved: dict, given: dict) -> list[str]:
    """'--lr 0.001 -> 0.002' for every setting that differs and may not change on resume."""
    old, new = _flat(saved), _flat(given)
    found = []
    for key in sorted(set(old) & set(new)):  # a key on one side only: another flowrestore version
        if key in MAY_CHANGE:
            continue
        a, b = old.get(key), new.get(key)
        if key in PATH_KEYS and _same_place(a, b):
            continue
        if _normal(key, a) != _normal(key, b):
            found.append(f"{option_name(key)} {a} -> {b}")
    return found


def saved_config(run_dir: Path) -> dict | None:
    """The configuration the run in `run_dir` started with: saved with its state, or (for states
    written before that) recorded in its last checkpoint; None when neither has one."""
    from flowrestore.serialization import CheckpointError, read_metadata
    from flowrestore.training.state import saved_config as state_config

    saved = state_config(run_dir / STATE_FILE)
    if saved is None and (run_dir / LAST_FILE).exists():
        try:
            saved = read_metadata(run_dir / LAST_FILE).get("training")
        except CheckpointError:
            saved = None
    return saved if isinstance(saved, dict) else None


def check_same_run(run_dir: Path, given: dict) -> None:
    """Refuse to resume with a configuration that differs from the saved one, naming each difference."""
    saved = saved_config(run_dir)
    if saved is None:
        return  # nothing recorded to compare with
    different = changes(saved, given)
    if different:
        shown = "; ".join(different[:6]) + ("; ..." if len(different) > 6 else "")
        raise TrainingError(
            f"cannot resume {run_dir}: the run was started with other settings ({shown}); "
            "give the saved values, or start a new run with another --output"
        )
