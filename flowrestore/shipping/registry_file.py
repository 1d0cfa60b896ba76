"""checkpoints.toml as values: read it, change rows, write it back (no text edits of TOML)."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

# Keys in the order they are written; others follow in their given order.
ROW_ORDER = ("name", "kind", "description", "task", "sigma_range", "blur_range", "architecture", "file", "hub", "sha256",
             "metrics")


def header(text: str) -> str:
    """The comment block at the top of a registry file (everything before the first table)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("[["):
            break
        lines.append(line)
    return "\n".join(lines).rstrip() + "\n"


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a registry value must be finite, got {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_scalar(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to the registry")


def render(head: str, rows: list[dict]) -> str:
    """A registry file: `head` (comments), then one [[checkpoint]] table per row."""
    parts = [head.rstrip() + "\n"]
    for row in rows:
        keys = [k for k in ROW_ORDER if k in row] + [k for k in row if k not in ROW_ORDER]
        parts.append("\n[[checkpoint]]\n" + "".join(f"{k} = {_scalar(row[k])}\n" for k in keys))
    text = "".join(parts)
    tomllib.loads(text)  # never write what cannot be read back
    return text


def read(path: Path) -> tuple[str, list[dict]]:
    """(header, rows) of a registry file."""
    text = Path(path).read_text(encoding="utf-8")
    return header(text), list(tomllib.loads(text).get("checkpoint", []))


def update_row(rows: list[dict], name: str, **changes) -> list[dict]:
    """A copy of `rows` with the row called `name` changed; KeyError if there is none."""
    out, found = [], False
    for row in rows:
        if row.get("name") == name:
            row, found = {**row, **changes}, True
        out.append(row)
    if not found:
        raise KeyError(f"no checkpoint called {name!r} in the registry")
    return out
