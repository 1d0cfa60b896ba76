"""Nested training state (model, optimiser, scheduler, counters) to and from one safetensors file.

Tensors go into the file; everything else (numbers, strings, the nesting) goes into a
JSON skeleton in the metadata, where each tensor is replaced by {"__tensor__": key}.
No pickle is involved.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from flowrestore.errors import TrainingError
from flowrestore.files import atomic_write


def _flatten(obj, tensors: dict, prefix: str):
    if isinstance(obj, torch.Tensor):
        key = prefix or "root"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if not all(isinstance(k, (str, int)) for k in obj):
            raise TypeError("state keys must be str or int")
        return {
            "__dict__": [[k, _flatten(v, tensors, f"{prefix}/{k}")] for k, v in obj.items()]
        }
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_flatten(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in training state")


def _unflatten(obj, tensors: dict):
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            return [_unflatten(v, tensors) for v in obj["__list__"]]
    return obj


def save_state(path: Path, state: dict) -> None:
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, tensors, "")
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"state": json.dumps(skeleton)}))


def _skeleton(path: Path) -> dict:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})["state"])
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise TrainingError(
            f"{path} is not a readable training state ({' '.join(str(e).split()) or type(e).__name__}); "
            "it cannot be resumed: start afresh with --force"
        ) from e


def load_state(path: Path) -> dict:
    skeleton = _skeleton(path)
    return _unflatten(skeleton, load_file(str(path)))


def saved_config(path: Path) -> dict | None:
    """The run configuration saved with a state (None for states written without one),
    read from the metadata alone: no tensor is loaded."""
    for key, value in _skeleton(path).get("__dict__", []):
        if key == "config":
            return _unflatten(value, {})
    return None
