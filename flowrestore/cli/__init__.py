"""The `flowrestore` command: global options, the error boundary, and one module per subcommand.

To add a subcommand `<name>`: write flowrestore/cli/<name>.py with a function `command`
(options as parameters, a docstring for --help, torch imported inside the body) or a
`typer.Typer` named `app` for a group of commands, and register it below with one line.
Raise flowrestore.errors exceptions (UsageError for a bad value) for user errors; the boundary in
flowrestore/cli/errors.py shows them. Import nothing heavy at module level, so that
`flowrestore --help` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from flowrestore import __version__
from flowrestore.cli import benchmark, checkpoints, finetune, pretrain, restore
from flowrestore.cli.errors import ErrorBoundary


@dataclass(frozen=True)
class Settings:
    """Global options, handed to every command as ctx.obj."""

    debug: bool = False
    registry: Path | None = None


app = typer.Typer(
    cls=ErrorBoundary,
    name="flowrestore",
    help="Restore images by deep unfolding with normalizing-flow priors.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"flowrestore {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")] = False,
    registry: Annotated[
        Optional[Path],
        typer.Option(
            "--registry",
            envvar="FLOWRESTORE_REGISTRY",
            help="Checkpoint registry to read instead of the bundled checkpoints.toml.",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = Settings(debug=debug, registry=registry)


app.command("restore")(restore.command)
app.command("pretrain")(pretrain.pretrain)
app.command("finetune")(finetune.finetune)
app.command("benchmark")(benchmark.benchmark)
app.add_typer(checkpoints.app, name="checkpoints")
