"""A checkpoint's metadata checked before any model is built: types, task, and tensor shapes.

A readable file can still declare a configuration that does not match its tensors, carry an
unknown or mistyped field, or declare a model far larger than the file (a 2 KB file whose
`hidden` asks for 40 GB). Everything here reads only the safetensors header: the expected
shapes come from the model built on PyTorch's "meta" device, which allocates nothing, and only
after the declared depth has been bounded by the number of tensors the file holds.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from flowrestore.flow.glow import Glow, GlowConfig
from flowrestore.solver.unrolled import SolverConfig, UnrolledSolver

KINDS = ("glow", "solver")
TASK_FIELDS = {"task": str, "noise_sigma": float, "box": int, "blur_sigma": float, "blur_kernel": int,
               "blur_boundary": str}


class MetadataError(ValueError):
    """Raised with the reason only; serialization.CheckpointError adds the file's name."""


def _check_types(config, where: str) -> None:
    """Every field of a config dataclass has its default's type (ints where ints are meant)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            _check_types(value, f"{where}.{f.name}")
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if default is None:
            continue
        expected = type(default)
        ok = isinstance(value, expected) and (expected is bool or not isinstance(value, bool))
        if expected is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok:
            raise MetadataError(f"{where}.{f.name} is {value!r}, not a {expected.__name__}")


def _unknown_fields(cls, raw: dict) -> list[str]:
    """The keys of `raw` that are no field of the config dataclass `cls` (a solver's GLOW prox's too)."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in raw if k not in known)
    prox = raw.get("prox_config")
    if cls is SolverConfig and raw.get("prox", "glow") == "glow" and isinstance(prox, dict):
        unknown += [f"prox_config.{k}" for k in _unknown_fields(GlowConfig, prox)]
    return unknown


def model_config(meta: dict) -> GlowConfig | SolverConfig:
    """The configuration the metadata declares, with every field checked."""
    kind = meta.get("kind")
    if kind not in KINDS:
        raise MetadataError(f"its kind is {kind!r}, not one of {', '.join(KINDS)}")
    raw = meta.get("config")
    if not isinstance(raw, dict):
        raise MetadataError("it has no model configuration")
    unknown = _unknown_fields(GlowConfig if kind == "glow" else SolverConfig, raw)
    if unknown:
        raise MetadataError(f"its model configuration has settings this flowrestore does not know "
                            f"({', '.join(unknown)}): a file written by a newer version, or edited; upgrade "
                            f"flowrestore to use it")
    try:
        config = GlowConfig(**raw) if kind == "glow" else SolverConfig.from_dict(dict(raw))
    except (TypeError, ValueError, KeyError) as e:
        raise MetadataError(f"its model configuration is invalid ({' '.join(str(e).split())})") from e
    _check_types(config, "config")
    return config


def check_task(meta: dict) -> None:
    """A solver's recorded task, if any: known fields of the right types."""
    task = meta.get("task")
    if task is None:
        return
    if not isinstance(task, dict):
        raise MetadataError(f"its task is {task!r}, not a table of task settings")
    for key, value in task.items():
        if key not in TASK_FIELDS:
            raise MetadataError(f"its task has an unknown field {key!r}")
        expected = TASK_FIELDS[key]
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = isinstance(value, str) if expected is str else numeric and (expected is float or float(value).is_integer())
        if not ok or (numeric and not math.isfinite(value)):
            raise MetadataError(f"its task field {key} is {value!r}, not a {expected.__name__}")
    from flowrestore.tasks import TaskSpec

    try:
        TaskSpec.from_dict(task)
    except (TypeError, ValueError) as e:
        raise MetadataError(f"its task is invalid ({e})") from e


def _least_tensors(config) -> int:
    """A lower bound on the tensors a model of `config` holds (at least one per flow step,
    residual block or U-Net level), so a file cannot declare a model far deeper than itself."""
    if isinstance(config, GlowConfig):
        return config.levels * config.depth
    proxes = 1 if config.tied else config.folds
    inner = config.prox_config
    per_prox = _least_tensors(inner) if isinstance(inner, GlowConfig) else getattr(inner, "blocks", 0) or getattr(
        inner, "depth", 1
    )
    return proxes * max(per_prox, 1)


def check_shapes(config, shapes: dict[str, tuple[int, ...]]) -> None:
    """The file's tensors are exactly the declared model's, name for name and shape for shape."""
    least = _least_tensors(config)
    if least > len(shapes):
        raise MetadataError(
            f"its configuration declares a model of at least {least} tensors but the file holds {len(shapes)}"
        )
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated, whatever the declared size
            model = Glow(config) if isinstance(config, GlowConfig) else UnrolledSolver(config)
    except (TypeError, ValueError, RuntimeError) as e:
        raise MetadataError(f"its configuration cannot be built ({' '.join(str(e).split())[:200]})") from e
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing, unexpected = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    if missing or unexpected:
        raise MetadataError(f"its tensors do not match its configuration: missing {missing[:3]}, unexpected {unexpected[:3]}")
    for name, shape in expected.items():
        if tuple(shapes[name]) != shape:
            raise MetadataError(
                f"tensor {name} has shape {tuple(shapes[name])} but its configuration needs {shape}"
            )
