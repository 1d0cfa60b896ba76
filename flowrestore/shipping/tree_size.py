"""The repository's size budget: the tracked files stay under 30 MB in all.

Every device call carries the working tree with the training data, within 64 MiB
(scripts/pack_device_data.py), so a shipment that grew the bundle past the budget would cost every
later GPU window training faces. A file stored as fp16, where int8 kernels would change its
restorations (flowrestore.shipping.storage), is 2.8 MB larger than its int8 predecessor: the
pipeline keeps the shipped file rather than break the budget.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SIZE_BUDGET = 30_000_000  # bytes of tracked files


def tracked_bytes(root: Path, untracked: bool = False) -> int:
    """Bytes of the files git tracks in `root`; with `untracked`, also of the untracked files git does not
    ignore (what a device call copies besides its carried paths). Where `root` is no git work tree (a
    device's copy of the tree comes without .git), of every file in it but those of top-level dot-folders
    (.git, and the carried data in .gpu), bytecode caches and egg-info: what a copy of the tracked files holds."""
    extra = ["--others", "--exclude-standard"] if untracked else []
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", *extra], cwd=root, check=True,
                                capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and _copied(p.relative_to(root)))
    paths = (root / name.decode() for name in listed.split(b"\0") if name)
    return sum(p.stat().st_size for p in paths if p.is_file())


def _copied(relative: Path) -> bool:
    parts = relative.parts
    return not (parts[0].startswith(".") or "__pycache__" in parts or any(p.endswith(".egg-info") for p in parts))


def after_replacing(root: Path, shipped: Path, candidate: Path) -> int:
    """The tracked bytes once `candidate` replaces `shipped` (a file in `root`)."""
    return tracked_bytes(root) - (shipped.stat().st_size if shipped.is_file() else 0) + candidate.stat().st_size
