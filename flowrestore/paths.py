"""Which files to read and where to write: input expansion and the no-overwrite output plan.

Inputs are files, folders (their image files, not recursive) or glob patterns. Folders
and globs skip earlier outputs (names ending in _restored or _compare), so a second run
over a folder does not restore its own results; a file named explicitly is always taken.

Outputs: next to each input as <stem>_restored<suffix> by default; into a folder with the
input's file name when --output is a folder (an existing one, one ending in a slash, or a
name without a suffix); to exactly that file when --output names one file for one input.
An existing file is never replaced without `force`, and an input never at all.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from flowrestore.errors import ImageNotFoundError, ImageWriteError
from flowrestore.image_writing import output_format
from flowrestore.imageio import FORMATS

RESTORED_SUFFIX = "_restored"
COMPARE_SUFFIX = "_compare"
FACES_SUFFIX = "_faces"  # restore --show-faces


def _is_earlier_output(path: Path) -> bool:
    return path.stem.endswith((RESTORED_SUFFIX, COMPARE_SUFFIX, FACES_SUFFIX))


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in FORMATS and not _is_earlier_output(path)


def listed(names, most: int = 5) -> str:
    """Names (paths, strings) in a message: the first `most`, and how many more."""
    names = [str(name) for name in names]
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def expand_inputs(specs: list[str]) -> list[Path]:
    """Files, folders and globs -> image files, in the order given, each once."""
    found: list[Path] = []
    problems: list[str] = []  # every spec that finds nothing, reported together
    for spec in specs:
        path = Path(spec).expanduser()
        files: list[Path] = []
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and _is_image_name(p))
            if not files:
                problems.append(f"folder {path} holds no .png, .jpg, .webp or .tif images; check the path")
        elif path.exists():
            files = [path]
        elif glob.has_magic(spec):
            matches = (Path(p) for p in glob.glob(os.path.expanduser(spec), recursive=True))
            files = sorted(p for p in matches if p.is_file() and not _is_earlier_output(p))
            if not files:
                problems.append(f"no files match {spec!r}; check the pattern")
        else:
            problems.append(f"{path}: no such file or folder; check the path")
        found.extend(files)
    if problems:
        raise ImageNotFoundError(problems[0] if len(problems) == 1 else f"{len(problems)} inputs: {' | '.join(problems)}")
    ordered, seen = [], set()
    for p in found:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            ordered.append(p)
    if not ordered:
        raise ImageNotFoundError("no input images given; name files, folders or globs")
    return ordered


def _writable_folder(folder: Path) -> None:
    """Raise unless `folder` exists and is writable, or could be created."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ImageWriteError(f"cannot create output folder {folder}: {existing} is a file; choose another --output")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ImageWriteError(f"output folder {existing} is not writable; choose another --output")


def _writable_suffix(path: Path) -> str:
    return path.suffix if path.suffix.lower() in FORMATS else ".png"


def plan_outputs(inputs: list[Path], output: Path | None = None, force: bool = False) -> list[Path]:
    """One output path per input, checked by `check_targets`."""
    output_is_folder = output is not None and (
        output.is_dir() or str(output).endswith(("/", os.sep)) or not output.suffix
    )
    if output is None:
        targets = [p.with_name(f"{p.stem}{RESTORED_SUFFIX}{_writable_suffix(p)}") for p in inputs]
    elif output_is_folder:
        targets = [output / f"{p.stem}{_writable_suffix(p)}" for p in inputs]
    elif len(inputs) > 1:
        raise ImageWriteError(f"--output {output} is one file but there are {len(inputs)} inputs; give a folder")
    else:
        output_format(output)
        targets = [output]
    check_targets(inputs, targets, force)
    return targets


def comparison_paths(inputs: list[Path], outputs: list[Path], force: bool = False, kind: str = "compare") -> list[Path]:
    """Where the figures go: <stem>_compare.png (or _<kind>.png) beside each output, checked."""
    suffix = {"compare": COMPARE_SUFFIX, "faces": FACES_SUFFIX}[kind]
    targets = [o.with_name(f"{o.stem.removesuffix(RESTORED_SUFFIX)}{suffix}.png") for o in outputs]
    check_targets(inputs + outputs, targets, force)
    return targets


def check_targets(inputs: list[Path], targets: list[Path], force: bool) -> None:
    """No target is an input or exists (unless force), no two collide, every folder is writable."""
    sources = {p.resolve() for p in inputs}
    seen: dict[Path, int] = {}
    for i, target in enumerate(targets):
        key = target.resolve()
        if key in sources:
            raise ImageWriteError(f"{target} would overwrite an input; choose another --output")
        if key in seen:
            raise ImageWriteError(
                f"two inputs ({inputs[seen[key]].name}, {inputs[i].name}) would both be written to {target}; "
                "give separate --output folders"
            )
        seen[key] = i
        if target.exists() and not force:
            raise ImageWriteError(f"{target} already exists; pass --force to overwrite it or choose another --output")
        _writable_folder(target.parent)
