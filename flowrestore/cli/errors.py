"""The CLI's one error boundary: errors a user can fix become one red line and exit code 1.

Every command runs inside `ErrorBoundary.invoke`, the root group of the Typer app, so no
command catches errors itself. FlowrestoreError (all of flowrestore.errors, UsageError for
bad values included) and running out of memory (CPU or GPU) are shown as `error: <message>`
on stderr, without a traceback unless the global --debug is given, in which case the exception
propagates with its traceback. Anything else, a plain ValueError included, is a bug and keeps
its traceback. Click's own usage errors (a missing option, a value its parser refuses) pass
through untouched: click reports them as usual, with exit code 2. Ctrl-C (KeyboardInterrupt) is
one line too, `error: interrupted`, with exit code 130; a restore stopped after its first write says
what it wrote (flowrestore.file_chunks).
"""

from __future__ import annotations

from typing import Any

from typer import Exit
from typer.core import TyperGroup

from flowrestore.cli.ui import stderr
from flowrestore.errors import INTERRUPTED, FlowrestoreError
from flowrestore.resources import is_out_of_memory


def user_message(error: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None for a bug."""
    if isinstance(error, FlowrestoreError):
        return " ".join(str(error).split()) or type(error).__name__
    if is_out_of_memory(error):  # outside the solver, whose own message names --tile
        return "out of memory; close other programs, or restore fewer or smaller images at a time"
    if type(error).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch
        return "out of GPU memory; lower --batch-size or use --device cpu"
    return None


class ErrorBoundary(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            message = user_message(error)
            if message is None or ctx.params.get("debug"):
                raise
            _say(message)
            raise Exit(getattr(error, "exit_code", 1)) from None
        except KeyboardInterrupt:
            if ctx.params.get("debug"):
                raise
            training = ctx.invoked_subcommand in ("pretrain", "finetune")
            _say("interrupted" + ("; --resume goes on from the run's last saved state, if it saved one" if training
                                  else ""))
            raise Exit(INTERRUPTED) from None


def _say(message: str) -> None:
    stderr().print(f"error: {message}", style="bold red", markup=False, highlight=False, soft_wrap=True)
