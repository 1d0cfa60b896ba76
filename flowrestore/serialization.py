"""Models to and from safetensors files whose metadata rebuilds the model without other input.

A file holds the weights (fp32 or fp16) and one metadata entry, "flowrestore", a JSON
object: {"kind": "glow" | "solver", "config": ..., "format": 1, ...extra} where extra
carries the task, training configuration and metrics. Loading is strict and never
unpickles anything. Writes are atomic: a temporary file in the same folder, then a rename.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from flowrestore.flow.glow import Glow, GlowConfig
from flowrestore.solver.unrolled import SolverConfig, UnrolledSolver

FORMAT = 1


class CheckpointError(ValueError):
    """A file that is not a flowrestore checkpoint, or one that does not match its model."""


@dataclass
class Checkpoint:
    model: nn.Module
    kind: str
    metadata: dict


def _state_tensors(model: nn.Module, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        tensors[name] = t.contiguous().cpu().clone()
    return tensors


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path) and rename the result onto `path`; `path` is never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        # After writing: mkstemp's 0600 (which some writers, e.g. safetensors, re-create the
        # file with) would make shared checkpoints and images unreadable to others.
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_kind(model: nn.Module) -> str:
    if isinstance(model, Glow):
        return "glow"
    if isinstance(model, UnrolledSolver):
        return "solver"
    raise TypeError(f"cannot save a {type(model).__name__}")


def save_model(path: Path, model: nn.Module, extra: dict | None = None, dtype: torch.dtype | None = None) -> None:
    """Write `model` and its configuration (plus `extra` metadata) to a safetensors file."""
    meta = {"format": FORMAT, "kind": model_kind(model), "config": model.config.to_dict(), **(extra or {})}
    tensors = _state_tensors(model, dtype)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"flowrestore": json.dumps(meta)}))


def read_metadata(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("flowrestore")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from e
    if raw is None:
        raise CheckpointError(f"{path} has no flowrestore metadata; it was not written by flowrestore")
    return json.loads(raw)


def build_model(meta: dict) -> nn.Module:
    if meta.get("kind") == "glow":
        return Glow(GlowConfig(**meta["config"]))
    if meta.get("kind") == "solver":
        return UnrolledSolver(SolverConfig.from_dict(meta["config"]))
    raise CheckpointError(f"unknown checkpoint kind {meta.get('kind')!r}")


def load_model(path: Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model from the file's metadata and load its weights strictly (as fp32)."""
    path = Path(path)
    meta = read_metadata(path)
    model = build_model(meta)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} could not be read ({e})") from e
    state = model.state_dict()
    tensors = {k: v.to(state[k].dtype) if k in state else v for k, v in tensors.items()}
    missing, unexpected = set(state) - set(tensors), set(tensors) - set(state)
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not match its model: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}"
        )
    model.load_state_dict(tensors, strict=True)
    return Checkpoint(model=model.to(device), kind=meta["kind"], metadata=meta)
