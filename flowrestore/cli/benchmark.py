"""`flowrestore benchmark`: run one of the paper's experiments and print (and write) the results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flowrestore.cli.options import TASKS, DeviceOption, ExperimentOption, MethodOption, completer
from flowrestore.errors import FlowrestoreError, UsageError

# flowrestore.benchmark imports torch: it is imported inside the functions so `--help` stays fast.
MAP_STEPS = 20  # flowrestore.benchmark.map.MapConfig.steps (a test keeps them equal)


def _out_dir(out: Path | None, force: bool) -> None:
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--output {out} is a file; give a folder for the results")
    if out is not None and out.exists() and any(out.iterdir()) and not force:
        raise UsageError(f"{out} exists and is not empty; choose another --output or pass --force to overwrite")


def _incomplete(result, requested: set[str]) -> list[str]:
    """What could not run although it should have: a method named with --method, or everything."""
    problems = {}
    for (method, reason), _ in result.skipped.items():
        if method in requested:
            problems.setdefault(method, f"{method} ({reason})")
    ran = {r.method for r in result.records}
    for method in sorted(requested - ran - set(problems)):
        problems[method] = f"{method} (it applies to none of the chosen tasks)"
    if not result.records and not problems:
        problems["-"] = "any method"
    return list(problems.values())


def _table(cells) -> Table:
    from flowrestore.benchmark.report import plus_minus

    table = Table(title="benchmark")
    for column in ("setting", "method", "PSNR (dB)", "published", "SSIM", "s / image", "n"):
        table.add_column(column, justify="left" if column in ("setting", "method") else "right")
    for c in cells:
        table.add_row(
            c.setting, c.label, plus_minus(c.psnr, c.psnr_ci, 2),
            "–" if c.published_psnr is None else f"{c.published_psnr:.3f}",
            plus_minus(c.ssim, c.ssim_ci, 4), f"{c.seconds_per_image:.4f}", str(c.n),
        )
    return table


def benchmark(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="celeba, anime (bundled test sets) or an image folder")] = "celeba",
    experiment: ExperimentOption = None,
    task: Annotated[
        Optional[list[str]],
        typer.Option(autocompletion=completer(TASKS), help="only this task (repeatable): " + ", ".join(TASKS)),
    ] = None,
    method: MethodOption = None,
    limit: Annotated[Optional[int], typer.Option(help="use the first N images")] = None,
    size: Annotated[Optional[int], typer.Option(help="centre-crop and resize images to SIZE x SIZE")] = None,
    device: DeviceOption = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="images per batch")] = 16,
    out: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", "--out", help="write results.md, results.csv, summary.json, figures here"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="overwrite a non-empty --output folder")] = False,
    examples: Annotated[int, typer.Option(help="images shown in each figure (0: no figures)")] = 6,
    eight_bit: Annotated[
        bool, typer.Option("--8bit", help="clip and round measurements to 8 bits, as image files hold them")
    ] = False,
    checkpoint_dir: Annotated[
        Optional[Path], typer.Option(help="take <name>.safetensors from this folder instead of the registry")
    ] = None,
    map_steps: Annotated[int, typer.Option(help="optimiser steps of GLOW MAP")] = MAP_STEPS,
    map_gamma: Annotated[
        Optional[float], typer.Option(help="GLOW MAP latent penalty", show_default="max(sigma^2, 1e-3)")
    ] = None,
    skip_missing: Annotated[
        bool, typer.Option("--skip-missing", help="exit 0 even when some requested rows could not run (noted)")
    ] = False,
) -> None:
    """Benchmark restorers on one of the paper's experiments: PSNR, SSIM and time per image."""
    _out_dir(out, force)
    from flowrestore.benchmark import BenchmarkConfig, MapConfig, plan, required_checkpoints, run_benchmark
    from flowrestore.benchmark.report import summarize, write_report
    from flowrestore.checkpoints import locate

    config = BenchmarkConfig(
        experiment=experiment, dataset=dataset, tasks=tuple(task or ()), methods=tuple(method or ()), limit=limit,
        size=size, device=device, batch_size=batch_size, examples=examples, eight_bit=eight_bit, map=MapConfig(steps=map_steps, gamma=map_gamma),
    )
    console = Console()
    registry = ctx.obj.registry if ctx.obj is not None else None
    located = locate(required_checkpoints(plan(config)), checkpoint_dir, registry)
    bars = _SettingBars(console)
    try:
        result = run_benchmark(config, located.files, located.missing, bars)
    finally:
        bars.stop()
    console.print(_table(summarize(result)))
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if out is not None:
        for path in write_report(result, out):
            console.print(f"wrote {path}")
    problems = _incomplete(result, set(method or ()))
    if problems and not skip_missing:
        raise FlowrestoreError(
            f"could not run {'; '.join(problems)}; fix that, or pass --skip-missing to accept the partial table"
        )


class _SettingBars:
    """A progress bar per setting, drawn from the first report: an error found before any (a bad
    dataset, --limit) leaves no trace of a bar above its one line."""

    def __init__(self, console: Console) -> None:
        self.console, self.bar, self.tasks = console, None, {}

    def __call__(self, p) -> None:
        if self.bar is None:
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            self.bar = Progress(*columns, console=self.console, transient=True)
            self.bar.start()
        if p.setting not in self.tasks:
            self.tasks[p.setting] = self.bar.add_task(p.setting, total=p.total)
        self.bar.update(self.tasks[p.setting], completed=p.done)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
