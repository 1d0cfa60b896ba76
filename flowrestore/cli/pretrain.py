"""`flowrestore pretrain`: a GLOW prior by maximum likelihood on a folder of images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flowrestore.cli import loop_options as lo
from flowrestore.cli.options import PresetOption
from flowrestore.errors import UsageError


def pretrain(
    data: Annotated[Path, typer.Option("--data", help="Folder of training images (PNG/JPEG/WebP, recursive).")],
    val: Annotated[Optional[Path], typer.Option("--val", help="Folder of validation images.")] = None,
    out: Annotated[
        Path, typer.Option("--output", "-o", "--out", help="Run folder: best/last checkpoints and resume state (never replaced).")
    ] = Path("runs/prior"),
    preset: PresetOption = "compact",
    image_size: Annotated[
        int, typer.Option(min=1, help="Images are centre-cropped and resized to this (a multiple of 2**levels).")
    ] = 64,
    n_bits: Annotated[int, typer.Option(help="Bits per colour channel for dequantisation.")] = 8,
    lr: Annotated[float, typer.Option(parser=lo.positive, help="Adam learning rate.")] = 1e-3,
    warmup: Annotated[int, typer.Option(min=0, help="Linear learning-rate warm-up steps.")] = 500,
    cooldown: lo.Cooldown = 0,
    batch_size: lo.BatchSize = 64,
    epochs: lo.Epochs = None,
    max_steps: lo.MaxSteps = None,
    time_limit: lo.TimeLimit = None,
    eval_every: lo.EvalEvery = None,
    patience: lo.Patience = 5,
    seed: lo.Seed = 0,
    device: lo.Device = "auto",
    bf16: lo.Bf16 = False,
    cuda_graph: lo.CudaGraph = False,
    resume: lo.Resume = False,
    force: lo.Force = False,
) -> None:
    """Train a GLOW prior on clean images (stage 1 of the paper)."""
    from rich.console import Console

    from flowrestore.cli.training_progress import TrainingProgress, describe_result
    from flowrestore.training import PretrainConfig
    from flowrestore.training import pretrain as run_pretrain

    if not 1 <= n_bits <= 8:
        raise UsageError(f"--n-bits must lie in 1..8, got {n_bits}")
    config = PretrainConfig(
        train_dir=data, val_dir=val, out_dir=out, preset=preset, image_size=image_size, n_bits=n_bits, lr=lr,
        warmup_steps=warmup, cooldown_steps=cooldown, device=device, bf16=bf16, cuda_graph=cuda_graph,
        loop=lo.loop_config(batch_size, epochs, max_steps, time_limit, eval_every, patience, seed),
    )
    config.glow_config()  # validates the preset before any data is read
    console = Console()
    with TrainingProgress(console, "pretrain") as progress:
        result = run_pretrain(config, resume=resume, callback=progress, force=force)
    console.print(describe_result(result))
