"""Rich rendering of training events (the library only emits them)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainingProgress:
    """A progress bar with images/s, loss and ETA; evaluation lines printed above it. The bar is
    drawn from the first step, so an error found before (a missing folder) stands alone."""

    def __init__(self, console: Console, description: str):
        self.console = console
        self.description = description
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("step {task.completed:.0f}/{task.fields[total_txt]}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[rate]} img/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = None

    def __enter__(self) -> "TrainingProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self.task is not None:
            self.progress.stop()

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "device":
            self.console.print(f"device: {event['device']} (world size {event['world_size']})")
        elif kind == "resumed":
            self.console.print(f"resumed at step {event['step']}")
        elif kind == "finished":
            self.console.print(f"this run has already finished: {event['reason']}")
        elif kind == "eval":
            shown = {k: v for k, v in event["metrics"].items() if isinstance(v, (int, float))}
            text = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
            self.console.print(f"eval: {text}")
        elif kind == "step":
            total = event["total"]
            bounded = total < 10**11
            if self.task is None:
                self.progress.start()
                self.task = self.progress.add_task(
                    self.description, total=total if bounded else None, loss="-", rate="-",
                    total_txt=str(total) if bounded else "?",
                )
            self.progress.update(
                self.task, completed=event["step"], loss=f"{event['loss']:.4f}", rate=f"{event['images_per_s']:.1f}"
            )


def describe_result(result) -> str:
    best = result.best or {}
    shown = ", ".join(f"{k} {v:.4g}" for k, v in best.items() if isinstance(v, float))
    where = result.best_path if result.best_path is not None else "none written (no finite evaluation)"
    return (
        f"stopped after {result.step} steps ({result.stop_reason}, {result.seconds:.0f} s); "
        f"best: {shown or 'none'}; checkpoint: {where}"
    )
