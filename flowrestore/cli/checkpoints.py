"""`flowrestore checkpoints list|show|download`: the registry, from the command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from flowrestore.cli.ui import info, stdout

app = typer.Typer(help="List, inspect and download registered checkpoints.", no_args_is_help=True)


def _registry(ctx: typer.Context):
    return ctx.obj.registry if ctx.obj else None


def _task_label(task: dict | None) -> str:
    """The registry's task as TaskSpec labels it ("-" for priors)."""
    from flowrestore.tasks import TaskSpec

    return TaskSpec.from_dict(task).label() if task else "-"


def _fields(entry) -> dict:
    """One registry entry as plain values (what `show` and `list --json` print)."""
    from flowrestore.checkpoints import availability

    return {
        "name": entry.name,
        "kind": entry.kind,
        "description": entry.description,
        "task": entry.task,
        "sigma_range": list(entry.sigma_range) if entry.sigma_range else None,
        "blur_range": list(entry.blur_range) if entry.blur_range else None,
        "architecture": entry.architecture,
        "file": str(entry.bundled_path()) if entry.file else None,
        "hub": None if entry.hub is None else {**entry.hub.__dict__, "address": str(entry.hub)},
        "sha256": entry.sha256 or None,
        "metrics": entry.metrics,
        "weights": availability(entry),
    }


@app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print every entry as one JSON array.")] = False,
) -> None:
    """Registered checkpoints and where their weights are (bundled, cached, hub, missing)."""
    from rich.table import Table

    from flowrestore.checkpoints import list_checkpoints

    entries = list_checkpoints(_registry(ctx))
    if as_json:
        stdout().print_json(json.dumps([_fields(e) for e in entries]))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("name", "kind", "task", "weights", "metrics"):
        table.add_column(column)
    for entry in entries:
        shown = {k: v for k, v in entry.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        metrics = ", ".join(f"{k} {v}" for k, v in shown.items()) or "-"
        table.add_row(entry.name, entry.kind, _task_label(entry.task), _fields(entry)["weights"], metrics)
    stdout().print(table)


@app.command("show")
def show_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Registry name.")]) -> None:
    """Every field of one registry entry, as JSON."""
    from flowrestore.checkpoints import load_registry
    from flowrestore.errors import UnknownCheckpointError

    entries = load_registry(_registry(ctx))
    if name not in entries:
        raise UnknownCheckpointError(f"unknown checkpoint {name!r}; use one of {', '.join(entries)}")
    fields = _fields(entries[name])
    stdout().print_json(json.dumps(fields))


@app.command("download")
def download_command(
    ctx: typer.Context,
    spec: Annotated[str, typer.Argument(help="Registry NAME or hf://owner/repo/file.safetensors@revision.")],
) -> None:
    """Fetch a checkpoint into the Hugging Face cache (verified) and print its local path."""
    from flowrestore.checkpoints import resolve

    path = resolve(spec, registry=_registry(ctx), show_progress=True)
    info(f"{spec}: ok")
    stdout().print(str(path), markup=False)
