"""Replace several files as one step: after an interruption, either all old or all new.

New contents are staged next to the targets, then a journal listing the moves is written
atomically: that write is the commit point. `recover` (run at the start of every shipping
run) finishes a committed transaction, or discards an uncommitted one's staged files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STAGE_SUFFIX = ".staged"


def _journal(root: Path) -> Path:
    return Path(root) / ".shipping-journal.json"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _apply(moves: list[tuple[str, str]]) -> None:
    for staged, target in moves:
        if os.path.exists(staged):
            os.replace(staged, target)


def recover(root: Path) -> str | None:
    """Finish or roll back an interrupted transaction under `root`; says which, or None.

    Call it holding the shipping lock: staged files of a transaction in progress look like
    those of an interrupted one."""
    journal = _journal(root)
    if journal.exists():
        moves = json.loads(journal.read_text())
        _apply([tuple(m) for m in moves])
        journal.unlink()
        return f"finished an interrupted shipment ({len(moves)} files)"
    stale = [p for p in Path(root).rglob(f"*{STAGE_SUFFIX}") if ".git" not in p.parts]
    for p in stale:
        p.unlink()
    return f"discarded {len(stale)} staged files of an unfinished shipment" if stale else None


def replace_files(root: Path, contents: dict[Path, bytes]) -> None:
    """Write every {target: bytes} under `root` so that an interruption leaves all old or all new."""
    moves = []
    for target, data in contents.items():
        staged = Path(target).with_name(Path(target).name + STAGE_SUFFIX)
        _write_atomic(staged, data)
        moves.append((str(staged), str(target)))
    _write_atomic(_journal(root), json.dumps(moves).encode())  # the commit point
    _apply(moves)
    _journal(root).unlink()
