"""Typer option types shared by `pretrain` and `finetune`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

BatchSize = Annotated[int, typer.Option(help="Images per optimisation step (across all processes).")]
Epochs = Annotated[Optional[float], typer.Option(help="Passes over the training folder.")]
MaxSteps = Annotated[Optional[int], typer.Option(help="Stop after this many steps.")]
TimeLimit = Annotated[Optional[float], typer.Option(help="Stop after this many seconds (evaluation included).")]
EvalEvery = Annotated[Optional[int], typer.Option(help="Steps between evaluations (default: one epoch).")]
Patience = Annotated[int, typer.Option(help="Evaluations without improvement before early stopping.")]
Seed = Annotated[int, typer.Option(help="Seed for initialisation, data order, flips and noise.")]
Device = Annotated[str, typer.Option(help="cpu, cuda or auto (CUDA when available; says what it chose).")]
Bf16 = Annotated[bool, typer.Option("--bf16", help="bf16 autocast on CUDA.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last saved state.")]


def loop_config(batch_size, epochs, max_steps, time_limit, eval_every, patience, seed):
    from flowrestore.training import LoopConfig

    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    if epochs is None and max_steps is None and time_limit is None:
        raise ValueError("say when to stop: give --epochs, --max-steps or --time-limit")
    return LoopConfig(batch_size=batch_size, epochs=epochs, max_steps=max_steps, time_limit=time_limit,
                      eval_every=eval_every, patience=patience, seed=seed)
