"""The CLI's one error boundary: errors a user can fix become one red line and exit code 1.

Every command runs inside `ErrorBoundary.invoke`, the root group of the Typer app, so no
command catches errors itself. FlowrestoreError (all of flowrestore.errors, UsageError for
bad values included) and running out of memory (CPU or GPU) are shown as `error: <message>`
on stderr, without a traceback unless the global --debug is given, in which case the exception
propagates with its traceback. Anything else, a plain ValueError included, is a bug and keeps
its traceback. The parser's own usage errors (a missing option, an unknown one, a value out of its
range) are one line too, naming the command's help: `error: <click's message>; see 'flowrestore
restore -h'`, with exit code 1 like every other bad input; only a command given no arguments at all
still shows its help (click's exit code 2). Ctrl-C (KeyboardInterrupt) is
one line too, `error: interrupted`, with exit code 130; a restore stopped after its first write says
what it wrote (flowrestore.file_chunks).
"""

from __future__ import annotations

from typing import Any

from importlib import import_module

from typer import BadParameter, Exit
from typer.core import TyperGroup

from flowrestore.cli.ui import stderr
from flowrestore.errors import INTERRUPTED, FlowrestoreError
from flowrestore.resources import is_out_of_memory

# click's exceptions, wherever this typer takes click from (newer typers carry their own copy)
_click_exceptions = import_module(BadParameter.__module__)
UsageError = _click_exceptions.UsageError
NoArgsIsHelpError = getattr(_click_exceptions, "NoArgsIsHelpError", ())  # a bare command shows its help


def user_message(error: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None for a bug."""
    if isinstance(error, FlowrestoreError):
        return " ".join(str(error).split()) or type(error).__name__
    if is_out_of_memory(error):  # outside the solver, whose own message names --tile
        return "out of memory; close other programs, or restore fewer or smaller images at a time"
    if type(error).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch
        return "out of GPU memory; lower --batch-size or use --device cpu"
    return None


def usage_message(error: UsageError) -> str:
    """One line for a usage error caught by the parser, pointing at the help of the command it was in."""
    text = " ".join(error.format_message().split()).rstrip(".") or "bad usage"
    command = error.ctx.command_path if error.ctx is not None else None
    if command:
        text += f" See '{command} -h'." if text.endswith("?") else f"; see '{command} -h'"
    return f"{text[:1].lower()}{text[1:]}"


class ErrorBoundary(TyperGroup):
    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:  # the global options are parsed here, before invoke
            return super().make_context(*args, **kwargs)
        except NoArgsIsHelpError:
            raise
        except UsageError as error:
            _say(usage_message(error))
            raise Exit(1) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except UsageError as error:  # a subcommand's options are parsed inside invoke
            _say(usage_message(error))
            raise Exit(1) from None
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
