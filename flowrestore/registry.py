"""The checkpoint registry file (checkpoints.toml) read into entries: one row, one `Entry`.

flowrestore.checkpoints turns entries into verified files and loaded models; this module only
reads and checks the rows. The default registry is the package's own copy.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from flowrestore.errors import CheckpointUnavailableError, RegistryError, UnknownCheckpointError
from flowrestore.hub import HubFile

PACKAGE_DIR = Path(__file__).resolve().parent
REGISTRY = PACKAGE_DIR / "checkpoints.toml"
KINDS = ("glow", "solver")
# What `locate` reports as a missing checkpoint; any other failure (a wrong hash, a failed
# download, a damaged file) is raised, so that a broken checkpoint is never taken for an absent one.
NOT_AVAILABLE = (UnknownCheckpointError, CheckpointUnavailableError)


@dataclass(frozen=True)
class Entry:
    """One registry row."""

    name: str
    kind: str  # "glow" (a prior) or "solver" (a task model)
    architecture: str
    file: str | None = None  # bundled file, relative to the package folder (or absolute)
    hub: HubFile | None = None
    sha256: str = ""
    task: dict | None = None  # a TaskSpec as a dict, for solvers
    description: str = ""
    metrics: dict = field(default_factory=dict)
    sigma_range: tuple[float, float] | None = None  # noise levels a noise-conditioned model was trained for
    blur_range: tuple[float, float] | None = None  # blur sigma_b a blur-conditioned deblurrer was trained for

    @property
    def task_name(self) -> str | None:
        return self.task["task"] if self.task else None

    def bundled_path(self) -> Path | None:
        return PACKAGE_DIR / self.file if self.file else None


def _entry(row: dict, source: Path) -> Entry:
    row = dict(row)
    name = row.get("name")
    if not isinstance(name, str) or not name:
        raise RegistryError(f"{source}: every [[checkpoint]] needs a name")
    if row.get("kind") not in KINDS:
        raise RegistryError(
            f"{source}: checkpoint {name!r} has kind {row.get('kind')!r}; use one of {', '.join(KINDS)}"
        )
    hub = row.pop("hub", None)
    if hub is not None:
        if not isinstance(hub, dict) or not {"repo_id", "filename"} <= set(hub):
            raise RegistryError(f"{source}: checkpoint {name!r} needs hub = {{repo_id, filename, revision}}")
        hub = HubFile(hub["repo_id"], hub["filename"], hub.get("revision", "main"))
    known = {"name", "kind", "architecture", "file", "sha256", "task", "description", "metrics", "sigma_range",
             "blur_range"}
    unknown = set(row) - known
    if unknown:
        raise RegistryError(f"{source}: checkpoint {name!r} has unknown fields {sorted(unknown)}")
    return Entry(
        name=name,
        kind=row["kind"],
        architecture=row.get("architecture", ""),
        file=row.get("file"),
        hub=hub,
        sha256=row.get("sha256", "").lower(),
        task=row.get("task"),
        sigma_range=tuple(row["sigma_range"]) if "sigma_range" in row else None,
        blur_range=tuple(row["blur_range"]) if "blur_range" in row else None,
        description=row.get("description", ""),
        metrics=row.get("metrics", {}),
    )


def load_registry(registry: Path | None = None) -> dict[str, Entry]:
    """Registry entries by name, from `registry` (default: the package's checkpoints.toml)."""
    path = Path(registry) if registry is not None else REGISTRY
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise RegistryError(f"checkpoint registry {path} not found; check --registry") from e
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise RegistryError(f"checkpoint registry {path} is not valid TOML ({e}); fix the file") from e
    entries: dict[str, Entry] = {}
    for row in data.get("checkpoint", []):
        entry = _entry(row, path)
        if entry.name in entries:
            raise RegistryError(f"{path}: checkpoint {entry.name!r} is listed twice")
        entries[entry.name] = entry
    return entries


def list_checkpoints(registry: Path | None = None) -> list[Entry]:
    return list(load_registry(registry).values())


def default_checkpoint(task: str) -> str:
    """The registry name of the shipped model for `task`."""
    return f"glow-{task}"
