"""`flowrestore finetune`: the unrolled network trained end to end for one task."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flowrestore.cli import loop_options as lo


def finetune(
    ctx: typer.Context,
    task: Annotated[str, typer.Option(metavar="[denoise|inpaint|deblur]", help="Restoration task.")],
    data: Annotated[Path, typer.Option("--data", help="Folder of clean training images.")],
    val: Annotated[Optional[Path], typer.Option("--val", help="Folder of clean validation images.")] = None,
    out: Annotated[Optional[Path], typer.Option("--output", "-o", "--out", help="Run folder (default runs/<prox>-<task>).")] = None,
    sigma: Annotated[Optional[float], typer.Option(help="Noise level (denoise default 0.2; others 0).")] = None,
    box: Annotated[int, typer.Option(help="Side of the centre inpainting box, in pixels.")] = 19,
    blur_sigma: Annotated[float, typer.Option(help="Gaussian blur sigma_b, in pixels.")] = 5.0,
    blur_kernel: Annotated[
        int, typer.Option(help="Blur kernel side, odd (the paper's 5), or 0 for 2*ceil(3*sigma_b)+1.")
    ] = 5,
    blur_boundary: Annotated[str, typer.Option(help="Blur boundary: zero (the paper's) or periodic.")] = "zero",
    prox: Annotated[str, typer.Option(help="glow (proposed), resnet or unet.")] = "glow",
    prior: Annotated[
        str, typer.Option(help="GLOW prior: registry name (hash-checked), a path (with a / or .safetensors) or hf://.")
    ] = "celeba-prior",
    init_from: Annotated[
        Optional[Path], typer.Option(help="Start the prox from this solver checkpoint (e.g. a denoiser).")
    ] = None,
    plug_and_play: Annotated[
        bool, typer.Option("--plug-and-play", help="One frozen prior in every fold; train only mu and lambda.")
    ] = False,
    shared_prox: Annotated[
        bool, typer.Option("--shared-prox", help="One GLOW flow for every fold, trained (an ablation of the paper's "
                           "untied folds; docs/results/capacity.md).")
    ] = False,
    folds: Annotated[int, typer.Option(min=1, help="Number of unrolled folds K.")] = 4,
    lr: Annotated[float, typer.Option(parser=lo.positive, help="Learning rate of the network weights.")] = 1e-5,
    lr_scalars: Annotated[
        float, typer.Option(parser=lo.positive, help="Learning rate of the step sizes and shrinkages.")
    ] = 1e-2,
    warmup: Annotated[
        int, typer.Option(min=0, help="Linear learning-rate warm-up steps; give some when continuing a trained model "
                          "(--init-from): Adam's first full step moves every weight by the learning rate at once.")
    ] = 0,
    cooldown: lo.Cooldown = 0,
    memory_saving: Annotated[
        bool, typer.Option(help="Recompute flow activations from their inverses during backprop.")
    ] = True,
    image_size: Annotated[
        int, typer.Option(min=1, help="Training images are centre-cropped and resized to this (a multiple of 2**levels).")
    ] = 64,
    box_jitter: Annotated[
        int,
        typer.Option(min=0, help="Inpainting: shift half the training boxes by up to this many pixels each way "
                     "(the shipped model is tied to the centre box; docs/results/inpaint-position.md)."),
    ] = 0,
    level_shrinkage: Annotated[
        bool,
        typer.Option("--level-shrinkage", help="One shrinkage lambda per fold and latent level instead of one per "
                     "fold (an extension of the paper; docs/method.md)."),
    ] = False,
    blur_range: Annotated[
        Optional[tuple[float, float]],
        typer.Option(help="Deblurring: train one model across sigma_b in [LOW, HIGH] (log-uniform), its step sizes "
                     "and shrinkages following the blur (an extension; docs/method.md).", show_default=False),
    ] = None,
    blur_noise: Annotated[
        float, typer.Option(min=0.0, max=0.1, help="Deblurring: add noise of sigma ~ U(0, this) to each training image.")
    ] = 0.0,
    sigma_range: Annotated[
        Optional[tuple[float, float]],
        typer.Option(help="Train one noise-aware model told the noise level, its step sizes and shrinkages following "
                     "it (docs/method.md): denoising at sigma ~ U(LOW, HIGH); deblurring half noise-free, half at "
                     "log-uniform sigma, the float32 or 8-bit rounding counted as noise.", show_default=False),
    ] = None,
    eight_bit_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of training measurements clipped and rounded to 8 bits.")
    ] = 0.0,
    initial_guess: Annotated[
        str, typer.Option(metavar="[prior|ridge|wiener]", help="Where the folds start: prior, the prior's most "
                          "likely image (the paper's); ridge, a ridge inverse of the blur (deblurring); or wiener, a "
                          "stationary Gaussian prior's estimate fitted on --data (denoising; docs/method.md).")
    ] = "prior",
    ridge_balance: Annotated[float, typer.Option(parser=lo.positive, help="beta of the ridge initial guess.")] = 1e-3,
    batch_size: lo.BatchSize = 16,
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
    """Fine-tune the unrolled solver end to end with MSE (stage 2 of the paper)."""
    from rich.console import Console

    from flowrestore.cli.training_progress import TrainingProgress, describe_result
    from flowrestore.operators import TaskSpec
    from flowrestore.training import FinetuneConfig
    from flowrestore.training import finetune as run_finetune

    default = TaskSpec.default(task)
    spec = TaskSpec(
        task, noise_sigma=default.noise_sigma if sigma is None else sigma, box=box, blur_sigma=blur_sigma,
        blur_kernel=blur_kernel, blur_boundary=blur_boundary,
    )
    prior_path = None
    if prox == "glow":
        from flowrestore.checkpoints import resolve

        prior_path = resolve(prior, registry=ctx.obj.registry if ctx.obj else None)
    config = FinetuneConfig(
        train_dir=data, val_dir=val, task=spec, out_dir=out or Path(f"runs/{prox}-{task}"), prox=prox,
        prior=prior_path, init_from=init_from, folds=folds, plug_and_play=plug_and_play, shared_prox=shared_prox,
        lr=lr, warmup_steps=warmup, cooldown_steps=cooldown,
        lr_scalars=lr_scalars, memory_saving=memory_saving, image_size=image_size, device=device, bf16=bf16,
        box_jitter=box_jitter, level_shrinkage=level_shrinkage, blur_range=blur_range, blur_noise=blur_noise,
        sigma_range=sigma_range, eight_bit_fraction=eight_bit_fraction, initial_guess=initial_guess,
        ridge_balance=ridge_balance, cuda_graph=cuda_graph,
        loop=lo.loop_config(batch_size, epochs, max_steps, time_limit, eval_every, patience, seed),
    )
    console = Console()
    with TrainingProgress(console, f"finetune {spec.label()}") as progress:
        result = run_finetune(config, resume=resume, callback=progress, force=force)
    console.print(describe_result(result))
