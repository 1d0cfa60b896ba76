"""Writing files so that a reader never sees half of one: atomic_write (torch-free, so that image
I/O does not import the model stack)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, write, exclusive: bool = False) -> None:
    """Call write(tmp_path) and move the result onto `path`; `path` is never half-written.

    With `exclusive`, the finished file is hard-linked into place, which fails with
    FileExistsError if `path` exists (however recently it appeared): of two writers exactly
    one wins. Without, it replaces whatever is at `path`.
    """
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
        if exclusive:
            _link_exclusively(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _link_exclusively(tmp: str, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        # A file system without hard links: claim the name with O_EXCL, then move the
        # finished file over our own empty claim.
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.replace(tmp, path)
