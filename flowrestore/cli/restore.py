"""`flowrestore restore`: restore image files with a trained checkpoint."""

from __future__ import annotations

import json
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
from flowrestore.cli.ui import info, note, stderr, stdout

PROGRESS_FROM = 4  # images or tiles; fewer finish before a bar would be worth drawing


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
    from flowrestore.restore_files import RestoreOptions, restore_files

    options = RestoreOptions(
        inputs=tuple(inputs), task=task, checkpoint=checkpoint, sigma=sigma, mask=mask, box=box,
        blur_sigma=blur_sigma, blur_kernel=blur_kernel, blur_boundary=blur_boundary, device=device,
        batch_size=batch_size, output=output, force=force, degrade=degrade, compare=compare, seed=seed,
        tile=tile, tile_pad=tile_pad, registry=ctx.obj.registry if ctx.obj else None,
    )
    with _ProgressBar() as bar:
        run = restore_files(options, progress=bar)
    say = (lambda message: None) if quiet else info
    if device == "auto":
        say(f"device: {run.device.type} (auto)")
    for text in run.notes:
        note(text)
    _print_sigmas(run.files, say)
    if degrade and not as_json:
        _print_scores(run.files)
    for row in run.files:
        if row.likeness.unusual:
            note(f"note: {row.likeness.note(row.input.name)}")
    _print_summary(run, output, say)
    if as_json:
        stdout().print_json(json.dumps(_json_summary(run, degrade)))


def _print_summary(run, output: Path | None, say) -> None:
    """How many images, how fast, where to; and how face-like they came out."""
    count, seconds = len(run.files), run.seconds
    rate = count / seconds if seconds > 0 else float("inf")
    where = output if output is not None else "next to the inputs"
    say(
        f"restored {count} image{'s' * (count != 1)} ({run.label}, {run.checkpoint}) "
        f"in {seconds:.2f} s, {rate:.1f} images/s on {run.device.type} -> {where}"
    )
    scores = [row.likeness for row in run.files]
    unusual = sum(score.unusual for score in scores)
    bpd = sum(score.bits_per_dim for score in scores) / len(scores)
    say(
        f"face-likeness under celeba-prior (docs/likeness.md): {bpd:.2f} bits/dim on average"
        + (f"; {unusual} unlike the training faces" if unusual else "")
    )


def _json_summary(run, degrade: bool) -> dict:
    """The --json document."""
    summary = {
        "checkpoint": run.checkpoint, "task": run.task.to_dict(), "device": run.device.type,
        "seconds": round(run.seconds, 3), "images": [_json_row(row) for row in run.files],
    }
    if degrade:
        results = [row.restoration for row in run.files]
        summary["mean"] = {"psnr": sum(r.psnr for r in results) / len(results)}
        ssims = [r.ssim for r in results if r.ssim is not None]
        if ssims:
            summary["mean"]["ssim"] = sum(ssims) / len(ssims)
    return summary


def _json_row(file) -> dict:
    """One image's entry of the --json summary."""
    result, likeness = file.restoration, file.likeness
    row = {"input": str(file.input), "output": str(file.output),
           "comparison": str(file.comparison) if file.comparison else None,
           "bits_per_dim": round(likeness.bits_per_dim, 4), "unusual": bool(likeness.unusual)}
    if result.sigma is not None:
        row.update(sigma=round(result.sigma, 5), sigma_estimated=result.sigma_estimated)
    if result.psnr is not None:
        row.update(psnr=result.psnr, ssim=result.ssim)
    return row


def _print_sigmas(files, say=info) -> None:
    """The noise level each image was restored at, when a noise-conditioned model estimated it."""
    estimated = [(f.input, f.restoration.sigma) for f in files if f.restoration.sigma_estimated]
    if not estimated:
        return
    if len(estimated) <= 8:
        for path, level in estimated:
            say(f"estimated noise sigma {level:.3f} (of [0, 1] pixel values): {path.name}")
        return
    levels = [level for _, level in estimated]
    say(f"estimated noise sigma {min(levels):.3f} to {max(levels):.3f} (mean {sum(levels) / len(levels):.3f}) "
         f"over {len(levels)} images; pass --sigma to set it")


class _ProgressBar:
    """A progress bar on stderr, drawn from the first report once there are enough tiles to watch."""

    def __init__(self) -> None:
        self.bar = None
        self.job = None

    def __call__(self, done: int, total: int, images: int) -> None:
        if total < PROGRESS_FROM:
            return
        if self.bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            label = "restoring tiles" if total > images else "restoring"
            columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            console = stderr()
            self.bar = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
            self.bar.start()
            self.job = self.bar.add_task("restore", total=total)
        self.bar.update(self.job, completed=done)

    def __enter__(self) -> "_ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_scores(files) -> None:
    from flowrestore.metrics import ssim_available

    out = stdout()
    width = max(len(f.input.name) for f in files)
    results = [f.restoration for f in files]
    for file, result in zip(files, results):
        line = f"{file.input.name:<{width}}  PSNR {result.psnr:6.2f} dB"
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
