"""metrics.csv in a run folder: one row per evaluation, for plotting and scripts."""

from __future__ import annotations

import csv
from pathlib import Path

METRICS_FILE = "metrics.csv"
COLUMNS = ("step", "epoch", "train_loss", "monitor", "value", "lr", "images_per_s", "seconds")


def learning_rates(objective) -> str:
    """The optimizer's learning rate per parameter group, ';'-separated (scheduler applied)."""
    optimizer = getattr(objective, "optimizer", None)
    if optimizer is None:
        return ""
    return ";".join(f"{group['lr']:.3g}" for group in optimizer.param_groups)


def append(run_dir: Path, row: dict) -> None:
    """Append one evaluation's row (keys: COLUMNS), writing the header first in a new file."""
    path = Path(run_dir) / METRICS_FILE
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in COLUMNS})
