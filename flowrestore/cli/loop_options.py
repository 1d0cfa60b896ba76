"""Typer option types shared by `pretrain` and `finetune`."""

from __future__ import annotations

import math
from typing import Annotated, Optional

import typer

from flowrestore.cli.options import DeviceOption
from flowrestore.errors import UsageError


def positive(text: str) -> float:
    """A number above 0 (the parser's own bound `min` cannot exclude 0 itself)."""
    try:
        value = float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{text} is not a number above 0")
    return value


# Bounds are checked by the parser, so a bad value is a one-line usage error (exit code 1) naming the option.
BatchSize = Annotated[
    int, typer.Option("--batch-size", "-b", min=1, help="Images per optimisation step (across all processes).")
]
Epochs = Annotated[Optional[float], typer.Option(parser=positive, help="Passes over the training folder.")]
MaxSteps = Annotated[Optional[int], typer.Option(min=1, help="Stop after this many steps.")]
TimeLimit = Annotated[
    Optional[float], typer.Option(parser=positive, help="Stop after this many seconds (evaluation included).")
]
EvalEvery = Annotated[Optional[int], typer.Option(min=1, help="Steps between evaluations (default: one epoch).")]
Patience = Annotated[int, typer.Option(min=1, help="Evaluations without improvement before early stopping.")]
Seed = Annotated[int, typer.Option(help="Seed for initialisation, data order, flips and noise.")]
Cooldown = Annotated[
    int, typer.Option(min=0, help="Let the learning rates fall linearly to zero over the run's last N steps (needs "
                      "--max-steps or --epochs; may change on --resume).")
]
Device = DeviceOption  # the same --device as restore and benchmark
Bf16 = Annotated[bool, typer.Option("--bf16", help="bf16 autocast on CUDA.")]
CudaGraph = Annotated[
    bool, typer.Option("--cuda-graph", help="Record the training step once as a CUDA graph and replay it (one CUDA "
                       "device, where small steps are launch-bound; docs/training.md).")
]
Resume = Annotated[
    bool,
    typer.Option("--resume", help="Continue the run in --output from its last saved state (same settings, checked)."),
]
Force = Annotated[
    bool, typer.Option("--force", "-f", help="Start afresh in an --output that holds a run, deleting its checkpoints.")
]


def loop_config(batch_size, epochs, max_steps, time_limit, eval_every, patience, seed):
    from flowrestore.training import LoopConfig

    if epochs is None and max_steps is None and time_limit is None:
        raise UsageError("say when to stop: give --epochs, --max-steps or --time-limit")
    return LoopConfig(batch_size=batch_size, epochs=epochs, max_steps=max_steps, time_limit=time_limit,
                      eval_every=eval_every, patience=patience, seed=seed)

