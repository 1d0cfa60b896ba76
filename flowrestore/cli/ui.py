"""The CLI's two consoles: results on stdout, messages and progress on stderr. Only the CLI prints."""

from __future__ import annotations

from functools import cache

from rich.console import Console


@cache
def stdout() -> Console:
    return Console(soft_wrap=True, highlight=False)


@cache
def stderr() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def note(message: str) -> None:
    stderr().print(message, style="yellow", markup=False)


def info(message: str) -> None:
    stderr().print(message, markup=False)
