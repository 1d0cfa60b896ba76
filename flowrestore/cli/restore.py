"""`flowrestore restore`: restore image files with a trained checkpoint."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from flowrestore.cli.options import (
    BatchSizeOption,
    BlurBoundaryOption,
    BlurKernelOption,
    CheckpointOption,
    DeviceOption,
    ForceOption,
    OutputOption,
    SeedOption,
    TaskOption,
)
from flowrestore.cli.ui import info, note, stdout
from flowrestore.errors import FlowrestoreError, ImageWriteError, UsageError

PROGRESS_FROM = 4  # images or tiles; fewer finish before a bar would be worth drawing


def task_spec(base: dict | None, task: str | None, sigma, blur_sigma, box, blur_kernel=None, blur_boundary=None):
    """The TaskSpec to run: the checkpoint's (or the task's paper default) with the options on top."""
    from flowrestore.operators import TaskSpec

    values = TaskSpec.from_dict(base).to_dict() if base else TaskSpec.default(task).to_dict()
    overrides = {
        "noise_sigma": sigma, "blur_sigma": blur_sigma, "box": box,
        "blur_kernel": blur_kernel, "blur_boundary": blur_boundary,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TaskSpec(**values)


def operator_warning(trained, spec, name: str) -> str | None:
    """A note when the measurement operator differs from the one the checkpoint was trained for."""
    if trained is None or spec.task != trained.task:
        return f"note: {name} was trained for {trained.label() if trained else 'an unrecorded task'}, not {spec.label()}"
    if not spec.same_operator(trained):
        return f"warning: {name} was trained for {trained.label()}; restoring {spec.label()} is outside its training"
    return None


def command(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.", show_default=False)],
    task: TaskOption = None,
    sigma: Annotated[
        Optional[float],
        typer.Option(
            "--sigma", "-s",
            help="Noise std on the [0, 1] pixel scale. Steers a noise-aware model (estimated from each "
            "image when omitted) and sets the simulated noise of --degrade.",
        ),
    ] = None,
    mask: Annotated[
        Optional[Path],
        typer.Option("--mask", "-m", help="Inpainting mask of the images' size: white = known, black = fill."),
    ] = None,
    box: Annotated[
        Optional[int], typer.Option("--box", help="Inpainting: side of the centred missing box (no --mask).")
    ] = None,
    blur_sigma: Annotated[
        Optional[float], typer.Option("--blur-sigma", help="Deblurring: Gaussian blur std in pixels.")
    ] = None,
    blur_kernel: BlurKernelOption = None,
    blur_boundary: BlurBoundaryOption = None,
    checkpoint: CheckpointOption = None,
    device: DeviceOption = "auto",
    batch_size: BatchSizeOption = 8,
    output: OutputOption = None,
    force: ForceOption = False,
    degrade: Annotated[
        bool,
        typer.Option("--degrade", help="Treat inputs as clean: measure, restore, print PSNR/SSIM against them."),
    ] = False,
    compare: Annotated[
        bool, typer.Option("--compare", help="Also write <name>_compare.png: measurement | restored [| reference].")
    ] = False,
    seed: SeedOption = 0,
    tile: Annotated[
        int, typer.Option("--tile", help="Images larger than this many pixels a side are restored in overlapping tiles.")
    ] = 512,
    tile_pad: Annotated[
        Optional[int],
        typer.Option(
            "--tile-pad",
            help="Pixels of context along each inner side of a tile, left out of the blend "
            "(default: 48; for deblurring 48 plus three kernel radii).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary (and --degrade's scores) as one JSON document on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
) -> None:
    """Restore noisy, masked or blurred images (each written next to its input by default)."""
    from flowrestore.checkpoints import default_checkpoint, load
    from flowrestore.devices import pick_device
    from flowrestore.imageio import check_writable, image_size, read_each, read_image, read_mask
    from flowrestore.resources import check_pixels
    from flowrestore.paths import comparison_paths, expand_inputs, plan_outputs

    from flowrestore.tiling import Tiling, default_pad

    registry = ctx.obj.registry if ctx.obj else None
    Tiling(tile=tile, pad=tile_pad if tile_pad is not None else Tiling.pad)  # reject bad values early
    if task is not None:
        task_spec(None, task, sigma, blur_sigma, box, blur_kernel, blur_boundary)  # reject bad values early
    if checkpoint is not None and not checkpoint.strip():
        raise UsageError("--checkpoint is empty; give a registry name, a .safetensors path or an hf:// address")
    if checkpoint is None and task is None:
        raise UsageError("give --task (denoise, inpaint or deblur) or --checkpoint")
    if mask is not None and box is not None:
        raise UsageError("give --mask or --box, not both: the mask already says which pixels to fill")
    paths = expand_inputs(inputs)
    targets = plan_outputs(paths, output, force)
    figures = comparison_paths(paths, targets, force) if compare else [None] * len(paths)
    say = (lambda message: None) if quiet else info
    chosen = pick_device(device)
    if device == "auto":
        say(f"device: {chosen.type} (auto)")

    spec_name = checkpoint or default_checkpoint(task)
    loaded = load(spec_name, task, str(chosen), registry, show_progress=True, kind="solver")
    trained = loaded.metadata.get("task")
    spec = task_spec(trained, task, sigma, blur_sigma, box, blur_kernel, blur_boundary)
    tiling = Tiling(tile=tile, pad=tile_pad if tile_pad is not None else default_pad(spec))
    if trained:
        from flowrestore.operators import TaskSpec

        warning = operator_warning(TaskSpec.from_dict(trained), spec, spec_name)
        if warning:
            note(warning)
    if mask is not None and spec.task != "inpaint":
        raise UsageError(f"--mask applies to inpainting only, but the task is {spec.task}")
    for text in sigma_notes(loaded, spec_name, spec, sigma, degrade):
        note(text)

    observed = read_mask(mask) if mask is not None else None
    for path in paths:  # before decoding anything: a decoded image costs 12 bytes a pixel
        size = image_size(path)
        if size is not None:
            check_pixels(*size, str(path))
    images = read_each(paths, read_image)  # every unreadable input named at once
    for image, target in zip(images, targets):
        check_writable(target, image)
        for text in image.notes:
            note(f"note: {image.source}: {text}")

    started = time.perf_counter()
    from flowrestore.operators import image_seed

    # From the file name, as in the benchmark: an image gets the same measurement in both,
    # whatever else is in the run and however it is batched.
    seeds = [image_seed(p.name, seed) for p in paths]
    results = _run(loaded.model, images, spec, observed, degrade, seeds, compare, batch_size, tiling, sigma)
    elapsed = time.perf_counter() - started
    _check_finite(results, paths, spec_name)
    likeness = _likeness(results, spec.task)
    _write_all(results, targets, figures, force)
    _print_sigmas(paths, results, say)
    if degrade and not as_json:
        _print_scores(paths, results)
    for path, score in zip(paths, likeness):
        if score.unusual:
            note(f"note: {score.note(path.name)}")
    rate = len(images) / elapsed if elapsed > 0 else float("inf")
    where = output if output is not None else "next to the inputs"
    label = f"inpaint with the mask {mask.name}" if mask is not None else spec.label()
    say(
        f"restored {len(images)} image{'s' * (len(images) != 1)} ({label}, {spec_name}) "
        f"in {elapsed:.2f} s, {rate:.1f} images/s on {chosen.type} -> {where}"
    )
    unusual = sum(score.unusual for score in likeness)
    bpd = sum(score.bits_per_dim for score in likeness) / len(likeness)
    say(
        f"face-likeness under celeba-prior (docs/likeness.md): {bpd:.2f} bits/dim on average"
        + (f"; {unusual} unlike the training faces" if unusual else "")
    )
    if as_json:
        summary = {
            "checkpoint": spec_name, "task": spec.to_dict(), "device": chosen.type, "seconds": round(elapsed, 3),
            "images": [_json_row(p, t, f, r, s) for p, t, f, r, s in zip(paths, targets, figures, results, likeness)],
        }
        if degrade:
            summary["mean"] = {"psnr": sum(r.psnr for r in results) / len(results)}
            ssims = [r.ssim for r in results if r.ssim is not None]
            if ssims:
                summary["mean"]["ssim"] = sum(ssims) / len(ssims)
        stdout().print_json(json.dumps(summary))


def _json_row(path, target, figure, result, likeness) -> dict:
    """One image's entry of the --json summary."""
    row = {"input": str(path), "output": str(target), "comparison": str(figure) if figure else None,
           "bits_per_dim": round(likeness.bits_per_dim, 4), "unusual": bool(likeness.unusual)}
    if result.sigma is not None:
        row.update(sigma=round(result.sigma, 5), sigma_estimated=result.sigma_estimated)
    if result.psnr is not None:
        row.update(psnr=result.psnr, ssim=result.ssim)
    return row


def _likeness(results, task: str):
    """Each restoration's face-likeness under the bundled celeba-prior (flowrestore.likeness)."""
    from flowrestore.checkpoints import load
    from flowrestore.likeness import PRIOR, assess

    prior = load(PRIOR).model
    return assess(prior, [r.image.rgb for r in results], task)


def sigma_notes(loaded, name: str, spec, sigma: float | None, degrade: bool) -> list[str]:
    """What to tell the user about the noise level before restoring."""
    from flowrestore.restore import noise_conditioned

    if spec.task != "denoise" and not noise_conditioned(loaded.model):
        return []
    if noise_conditioned(loaded.model):
        low, high = loaded.metadata.get("sigma_range", (None, None))
        if sigma is not None and low is not None and not low <= sigma <= high:
            return [f"warning: {name} was trained for noise sigma {low:g} to {high:g}; {sigma:g} is outside"]
        return []
    trained = (loaded.metadata.get("task") or {}).get("noise_sigma")
    if sigma is not None and not degrade and trained is not None and abs(sigma - trained) > 1e-9:
        return [f"note: {name} restores at the one noise level it was trained for (sigma {trained:g}); "
                "a noise-conditioned model (the shipped glow-denoise) follows --sigma"]
    return []


def _print_sigmas(paths, results, say=info) -> None:
    """The noise level each image was restored at, when a noise-conditioned model estimated it."""
    estimated = [(p, r.sigma) for p, r in zip(paths, results) if r.sigma_estimated]
    if not estimated:
        return
    if len(estimated) <= 8:
        for path, level in estimated:
            say(f"estimated noise sigma {level:.3f} (of [0, 1] pixel values): {path.name}")
        return
    levels = [level for _, level in estimated]
    say(f"estimated noise sigma {min(levels):.3f} to {max(levels):.3f} (mean {sum(levels) / len(levels):.3f}) "
         f"over {len(levels)} images; pass --sigma to set it")


def _check_finite(results, paths, checkpoint: str) -> None:
    """Refuse to write NaN or infinite results (they would be saved as black pixels)."""
    import torch

    bad = [p.name for p, r in zip(paths, results) if not bool(torch.isfinite(r.image.rgb).all())]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise FlowrestoreError(
            f"checkpoint {checkpoint} produced NaN or infinite values for {shown}; nothing was written. "
            "The checkpoint is probably broken: use another one"
        )


def _write_all(results, targets, figures, force: bool) -> None:
    """Write every output; if one cannot be written (e.g. it appeared meanwhile), stop and say
    which were written before it."""
    from flowrestore.imageio import write_image, write_rgb

    written: list[Path] = []
    try:
        for result, target, figure in zip(results, targets, figures):
            write_image(target, result.image, overwrite=force)
            written.append(target)
            if figure is not None:
                write_rgb(figure, result.comparison, overwrite=force)
                written.append(figure)
    except ImageWriteError as e:
        if not written:
            raise
        shown = ", ".join(str(p) for p in written[:10]) + (f" and {len(written) - 10} more" if len(written) > 10 else "")
        raise ImageWriteError(f"{e}. Stopped; written before it: {shown}") from e


def _run(model, images, spec, observed, degrade, seeds, compare, batch_size, tiling, sigma=None):
    """restore_images, with a progress bar on stderr when there are enough images or tiles to watch."""
    from flowrestore.restore import restore_images
    from flowrestore.tiling import count_tiles

    kwargs = dict(degrade=degrade, seeds=seeds, compare=compare, batch_size=batch_size, tiling=tiling, sigma=sigma)
    tiles = sum(count_tiles(i.height, i.width, tiling, model.size_multiple) for i in images)
    if tiles < PROGRESS_FROM:
        return restore_images(model, images, spec, observed, **kwargs)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from flowrestore.cli.ui import stderr

    label = "restoring tiles" if tiles > len(images) else "restoring"
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    console = stderr()
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        job = bar.add_task("restore", total=tiles)
        return restore_images(
            model, images, spec, observed, progress=lambda done, total: bar.update(job, completed=done), **kwargs
        )


def _print_scores(paths, results) -> None:
    from flowrestore.metrics import ssim_available

    out = stdout()
    width = max(len(p.name) for p in paths)
    for path, result in zip(paths, results):
        line = f"{path.name:<{width}}  PSNR {result.psnr:6.2f} dB"
        if result.ssim is not None:
            line += f"  SSIM {result.ssim:.4f}"
        out.print(line, markup=False)
    psnrs = [r.psnr for r in results]
    ssims = [r.ssim for r in results if r.ssim is not None]
    line = f"{'mean':<{width}}  PSNR {sum(psnrs) / len(psnrs):6.2f} dB"
    if ssims:
        line += f"  SSIM {sum(ssims) / len(ssims):.4f}"
    out.print(line, markup=False)
    if not ssim_available():
        note("note: SSIM skipped: scikit-image is not installed (pip install scikit-image)")
