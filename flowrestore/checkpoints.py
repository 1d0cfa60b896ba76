"""The checkpoint registry (checkpoints.toml): names to verified files, and strict loading.

A checkpoint is named by a registry NAME, a filesystem PATH, or a hub address
hf://owner/repo/path/file.safetensors@revision. What a spec is follows from how it is
written, never from what happens to exist on disk:

1. hf://... is a hub address;
2. a spec with a path separator (/ or \\, so ./name too) or ending in
   .safetensors is a PATH, used as it is;
3. anything else is a registry NAME, even when a file of that name is in the working folder:
   its bundled file (flowrestore/<file>) if present, else the copy in the local Hugging Face
   cache, else a download from the Hub (not when HF_HUB_OFFLINE is set).

Every file that comes from a registry entry is checked against the entry's sha256 before
use (a cached copy that fails is downloaded once more). Paths and hf:// addresses have no
registry hash, so they are not hash-checked; `load` still checks their kind and task from
the metadata inside the file. An entry without sha256, or without a bundled file and a hub
entry, cannot be used and says so.

The registry read by default is flowrestore/checkpoints.toml, inside the package, so an
installed package finds it; the repository's top-level checkpoints.toml is an identical
copy for readers (a test keeps them equal). Every function takes `registry=` to read
another file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from flowrestore.errors import (
    CheckpointError,
    CheckpointUnavailableError,
    ChecksumError,
    UnknownCheckpointError,
    UsageError,
    WrongTaskError,
)
from flowrestore.hub import SCHEME, HubFile, HubSettings, cached, fetch

# The registry's rows (re-exported: callers import them from here too).
from flowrestore.registry import (  # noqa: F401
    KINDS,
    NOT_AVAILABLE,
    PACKAGE_DIR,
    REGISTRY,
    Entry,
    default_checkpoint,
    list_checkpoints,
    load_registry,
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, entry: Entry, fix: str) -> Path:
    """`path` if its sha256 is the entry's; else ChecksumError naming the file and `fix`."""
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise ChecksumError(
            f"{path} does not match the registry's sha256 for {entry.name!r} "
            f"(got {actual[:12]}..., expected {entry.sha256[:12]}...); {fix}"
        )
    return path


def availability(entry: Entry, settings: HubSettings | None = None) -> str:
    """Where the entry's weights are now, without touching the network: bundled, cached, hub, missing."""
    bundled = entry.bundled_path()
    if bundled is not None and bundled.is_file():
        return "bundled"
    if entry.hub is not None:
        return "cached" if cached(entry.hub, settings) is not None else "hub"
    return "missing"


def _check_task(name: str, kind: str, has: str | None, task: str | None) -> None:
    if task is None or has == task:
        return
    if kind == "glow":
        what = "a GLOW prior, not a restoration model"
    elif has:
        what = f"{'an' if has[0] in 'aeiou' else 'a'} {has} model"
    else:
        what = "a solver that records no task"
    raise WrongTaskError(
        f"checkpoint {name} is {what} but the task is {task}; "
        f"use --checkpoint {default_checkpoint(task)} or another checkpoint trained for {task}"
    )


def resolve_entry(entry: Entry, task: str | None = None, show_progress: bool = False) -> Path:
    """The verified local file of a registry entry: bundled, else cached, else downloaded.

    A cached copy that fails the hash is downloaded once more (a damaged cache heals);
    a fresh download that fails it is an error.
    """
    _check_task(entry.name, entry.kind, entry.task_name, task)
    bundled = entry.bundled_path()
    is_bundled = bundled is not None and bundled.is_file()
    if not is_bundled and entry.hub is None:
        raise CheckpointUnavailableError(
            f"checkpoint {entry.name!r} is not available: {bundled or 'no bundled file'} is missing and it has "
            "no hub entry; train it or pass a checkpoint file with --checkpoint PATH"
        )
    if not entry.sha256:
        raise ChecksumError(
            f"registry entry {entry.name!r} has no sha256, so its weights cannot be verified; "
            "fill in the file's sha256 (sha256sum FILE) or pass --checkpoint PATH"
        )
    if is_bundled:
        return verify(bundled, entry, "reinstall flowrestore or restore the file from git")
    settings = HubSettings.from_environment()
    path = fetch(entry.hub, settings, show_progress)
    if sha256_of(path) != entry.sha256 and not settings.offline:
        path = fetch(entry.hub, settings, show_progress, force=True)
    return verify(path, entry, f"the file at {entry.hub} is not the registered one; pass --checkpoint PATH instead")


def resolve(spec: str, task: str | None = None, registry: Path | None = None, show_progress: bool = False) -> Path:
    """A checkpoint NAME, PATH or hf:// address -> a local file (see the module docstring).

    With `task`, a registry entry for another task is refused here; files named by path or
    hf:// are checked by `load` from their metadata.
    """
    if spec.startswith(SCHEME):
        return fetch(HubFile.parse(spec), show_progress=show_progress)
    if is_path(spec):
        path = Path(spec).expanduser()
        if path.is_file():
            return path
        if path.is_dir():
            inside = ", ".join(p.name for p in sorted(path.glob("*.safetensors"))[:3])
            hint = f" (it holds {inside})" if inside else ""
            raise UnknownCheckpointError(
                f"checkpoint {spec} is a folder{hint}; give the .safetensors file inside it, e.g. {path / 'best.safetensors'}"
            )
        raise UnknownCheckpointError(f"checkpoint file {spec} not found; check the path")
    entries = load_registry(registry)
    if spec in entries:
        return resolve_entry(entries[spec], task, show_progress)
    local = f"; for the file {spec} in this folder write ./{spec}" if Path(spec).is_file() else ""
    raise UnknownCheckpointError(
        f"unknown checkpoint {spec!r}; use one of {', '.join(entries) or '(none registered)'}, "
        f"a .safetensors path or an hf:// address{local}"
    )


def is_path(spec: str) -> bool:
    """A checkpoint spec names a file when written as a path: with a separator or a .safetensors suffix."""
    separators = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    return any(sep in spec for sep in separators) or spec.lower().endswith(".safetensors") or spec.startswith("~")


def load(
    spec: str,
    task: str | None = None,
    device: str = "cpu",
    registry: Path | None = None,
    show_progress: bool = False,
    kind: str | None = None,
):
    """Resolve, check the kind and task recorded in the file, and load strictly; returns a
    serialization.Checkpoint. With `kind` "solver" and no `task`, the file must record its task."""
    from flowrestore.serialization import load_model, read_metadata

    path = resolve(spec, task, registry, show_progress)
    meta = read_metadata(path)
    has = (meta.get("task") or {}).get("task")
    _check_task(spec, meta.get("kind", "?"), has, task)
    check_kind(spec, meta.get("kind", "?"), kind)
    if kind == "solver" and task is None and not has:
        raise CheckpointError(f"checkpoint {spec} records no task; pass --task")
    checkpoint = load_model(path, device)
    checkpoint.model.eval()
    return checkpoint


def check_kind(name: str, has: str, kind: str | None) -> None:
    """WrongTaskError unless the checkpoint `name` holds a model of `kind` (any kind when None)."""
    if kind is None or has == kind:
        return
    if kind == "solver":
        raise WrongTaskError(f"checkpoint {name} is a GLOW prior, not a restoration model; use glow-<task>")
    raise WrongTaskError(f"checkpoint {name} holds a {has} model, not a GLOW prior; use celeba-prior or another prior")


NOT_REGISTERED = "not in the registry"  # `locate`'s reason for a name the registry does not list


@dataclass(frozen=True)
class Located:
    files: dict[str, Path]  # name -> local file, hash-checked when it came from the registry
    missing: dict[str, str]  # name -> why it is not available


def locate(names: list[str], folder: Path | None = None, registry: Path | None = None) -> Located:
    """The local file of each registry name: <folder>/<name>.safetensors when `folder` is given,
    else through the registry (see `resolve`). A name that is not available (NOT_AVAILABLE) is
    listed in `missing` with the reason (NOT_REGISTERED for a name the registry does not list);
    any other failure is raised."""
    files: dict[str, Path] = {}
    missing: dict[str, str] = {}
    if folder is not None:
        if not Path(folder).is_dir():
            raise UsageError(f"--checkpoint-dir {folder} is not a folder; give the folder of <name>.safetensors files")
        for name in names:
            path = Path(folder) / f"{name}.safetensors"
            if path.is_file():
                files[name] = path
            else:
                missing[name] = f"not found in {folder}"
        return Located(files, missing)
    for name in names:
        try:
            files[name] = resolve(name, registry=registry)
        except UnknownCheckpointError:
            missing[name] = NOT_REGISTERED
        except NOT_AVAILABLE as e:
            missing[name] = str(e).splitlines()[0]
    return Located(files, missing)
