"""`flowrestore restore`: restore image files with a trained checkpoint."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from flowrestore.cli import restore_report as report
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
from flowrestore.cli.restore_options import (
    AlignedOption,
    BlurSigmaOption,
    BoxOption,
    CompareOption,
    DegradeOption,
    FacesOption,
    JsonOption,
    MaskOption,
    NarrowHolesOption,
    OnlyFacesOption,
    QuietOption,
    ShowFacesOption,
    SigmaOption,
    SkipExistingOption,
    TileOption,
    TilePadOption,
)
from flowrestore.cli.ui import info, note, stderr, stdout

PROGRESS_FROM = 4  # images or tiles; fewer finish before a bar would be worth drawing


def command(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.", show_default=False)],
    task: TaskOption = None,
    sigma: SigmaOption = None,
    mask: MaskOption = None,
    box: BoxOption = None,
    narrow_holes: NarrowHolesOption = None,
    blur_sigma: BlurSigmaOption = None,
    blur_kernel: BlurKernelOption = None,
    blur_boundary: BlurBoundaryOption = None,
    checkpoint: CheckpointOption = None,
    device: DeviceOption = "auto",
    batch_size: BatchSizeOption = 8,
    output: OutputOption = None,
    force: ForceOption = False,
    skip_existing: SkipExistingOption = False,
    degrade: DegradeOption = False,
    compare: CompareOption = False,
    seed: SeedOption = 0,
    tile: TileOption = 512,
    tile_pad: TilePadOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    faces: FacesOption = False,
    aligned: AlignedOption = False,
    only_faces: OnlyFacesOption = False,
    show_faces: ShowFacesOption = False,
) -> None:
    """Restore noisy, masked or blurred images (each written next to its input by default)."""
    from flowrestore.errors import UsageError
    from flowrestore.restore_files import RestoreOptions, restore_files

    if faces and aligned:
        raise UsageError("give --faces (find the faces) or --aligned (the image is one face), not both")
    options = RestoreOptions(
        inputs=tuple(inputs), task=task, checkpoint=checkpoint, sigma=sigma, mask=mask, box=box,
        blur_sigma=blur_sigma, blur_kernel=blur_kernel, blur_boundary=blur_boundary, device=device,
        batch_size=batch_size, output=output, force=force, skip_existing=skip_existing, degrade=degrade,
        compare=compare, seed=seed, tile=tile, tile_pad=tile_pad, registry=ctx.obj.registry if ctx.obj else None,
        faces="detect" if faces else "aligned" if aligned else "off", only_faces=only_faces, show_faces=show_faces,
        narrow_holes=narrow_holes,
    )
    from flowrestore.allocator import keep_freed_memory

    keep_freed_memory()  # an application's choice, process-wide: reuse freed activations (docs/speed.md)
    with _ProgressBar() as bar:
        run = restore_files(options, progress=bar)
    say = (lambda message: None) if quiet else info
    if device == "auto":
        say(f"device: {run.device.type} (auto)")
    for text in run.notes:
        note(text)
    report.print_sigmas(run.files, say)
    if degrade and not as_json:
        report.print_scores(run.files)
    for row in run.files:
        if row.likeness.unusual:
            note(f"note: {row.likeness.note(row.input.name)}")
    if options.faces != "off":
        report.print_faces(run.files, say)
    report.print_summary(run, output, say)
    if as_json:
        stdout().print_json(json.dumps(report.json_summary(run, degrade)))


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
