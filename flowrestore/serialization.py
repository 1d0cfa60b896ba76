"""Models to and from safetensors files whose metadata rebuilds the model without other input.

A file holds the weights (fp32, fp16, or convolution kernels as int8 with per-channel scales and
the rest fp16: flowrestore.quantization) and one metadata entry, "flowrestore", a JSON
object: {"kind": "glow" | "solver", "config": ..., "format": 1, ...extra} where extra
carries the task, training configuration and metrics. Loading is strict and never
unpickles anything. Writes are atomic: a temporary file in the same folder, then a rename.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from flowrestore.errors import CheckpointError  # noqa: F401  (also imported from here)
from flowrestore.files import atomic_write  # noqa: F401  (also imported from here)
from flowrestore.flow.glow import Glow, GlowConfig
from flowrestore.metadata import MetadataError, check_shapes, check_task, model_config
from flowrestore.quantization import dequantize, is_scale, output_convolution, quantize, stored_shapes
from flowrestore.solver.unrolled import SolverConfig, UnrolledSolver

FORMAT = 1


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


def model_kind(model: nn.Module) -> str:
    if isinstance(model, Glow):
        return "glow"
    if isinstance(model, UnrolledSolver):
        return "solver"
    raise TypeError(f"cannot save a {type(model).__name__}")


# The storages a file's metadata names ("storage"); a file without one holds its tensors as saved.
INT8, INT8_FLOAT16_OUTPUTS, FLOAT16 = "int8", "int8+float16", "float16"


def save_model(path: Path, model: nn.Module, extra: dict | None = None, dtype: torch.dtype | None = None,
               float16_outputs: bool = False) -> None:
    """Write `model` and its configuration (plus `extra` metadata) to a safetensors file.

    `dtype`: None keeps the model's, torch.float16 halves every floating tensor, torch.int8 stores
    the convolution kernels as int8 with per-channel scales and the rest as fp16; with
    `float16_outputs` the coupling networks' output convolutions stay fp16 too (storage "int8+float16")."""
    meta = {"format": FORMAT, "kind": model_kind(model), "config": model.config.to_dict(), **(extra or {})}
    if dtype == torch.int8:
        floating = output_convolution if float16_outputs else None
        tensors = quantize(_state_tensors(model, torch.float32), floating=floating)
        tensors = {k: v.half() if v.dtype == torch.float32 and not is_scale(k) else v for k, v in tensors.items()}
        meta["storage"] = INT8_FLOAT16_OUTPUTS if float16_outputs else INT8
    else:
        tensors = _state_tensors(model, dtype)
        if dtype == torch.float16:
            meta["storage"] = FLOAT16
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"flowrestore": json.dumps(meta)}))


def with_config(source: Path, target: Path, **changes) -> None:
    """Write `source` to `target` with fields of its model configuration changed (e.g. a solver's
    blend_error); the tensors are copied byte for byte, whatever their storage."""
    meta = read_metadata(source)
    meta["config"] = {**meta["config"], **changes}
    build_model(meta)  # the changed configuration must still describe a model
    tensors = load_file(str(source))
    atomic_write(target, lambda tmp: save_file(tensors, tmp, metadata={"flowrestore": json.dumps(meta)}))


def read_metadata(path: Path) -> dict:
    """The file's flowrestore metadata, checked (kind, configuration, task) but not its tensors."""
    meta, _ = _read_header(Path(path))
    return meta


def _read_header(path: Path) -> tuple[dict, dict[str, tuple[int, ...]]]:
    """(checked metadata, tensor shapes) from the safetensors header alone."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from e
    raw = header.get("flowrestore")
    if raw is None:
        if "state" in header:
            raise CheckpointError(
                f"{path} is a training state (what --resume reads), not a model; "
                f"use {path.with_name('best.safetensors')} or last.safetensors from the same folder"
            )
        raise CheckpointError(f"{path} has no flowrestore metadata; it was not written by flowrestore")
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict):
            raise MetadataError(f"its metadata is a {type(meta).__name__}, not a JSON object")
        model_config(meta)
        check_task(meta)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not a usable flowrestore checkpoint: its metadata is not JSON ({e})") from e
    except MetadataError as e:
        raise CheckpointError(f"{path} is not a usable flowrestore checkpoint: {e}") from e
    return meta, shapes


def build_model(meta: dict) -> nn.Module:
    if meta.get("kind") == "glow":
        return Glow(GlowConfig(**meta["config"]))
    if meta.get("kind") == "solver":
        return UnrolledSolver(SolverConfig.from_dict(meta["config"]))
    raise CheckpointError(f"unknown checkpoint kind {meta.get('kind')!r}")


def load_model(path: Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Check the file's metadata and tensor shapes against its configuration, then rebuild the
    model and load its weights strictly (as fp32). Non-finite weights are refused."""
    path = Path(path)
    meta, shapes = _read_header(path)
    try:
        check_shapes(model_config(meta), stored_shapes(shapes))
    except MetadataError as e:
        raise CheckpointError(f"{path} is not a usable flowrestore checkpoint: {e}") from e
    try:
        tensors = dequantize(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} could not be read ({e})") from e
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(
                f"{path} holds NaN or infinite weights (in {name}), so every output would be too; "
                "use another checkpoint, e.g. the run's best.safetensors from before it diverged"
            )
    model = build_model(meta)
    state = model.state_dict()
    tensors = {k: v.to(state[k].dtype) for k, v in tensors.items()}
    model.load_state_dict(tensors, strict=True)
    return Checkpoint(model=model.to(device), kind=meta["kind"], metadata=meta)
