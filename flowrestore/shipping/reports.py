"""docs/results' benchmark reports of the shipped task models (Table I on CelebA-HQ, Table IV on anime
faces), written from the benchmark's own output whenever the files they measured are no longer the
shipped ones.

Each report ends with a comment recording the sha256 of every checkpoint it measured. A report whose
record differs from the registry's is stale (`stale`); `refresh` runs the benchmark again and rewrites
it. The pipeline refreshes after each shipment and when it starts (an interrupted refresh is redone).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from flowrestore.checkpoints import load_registry
from flowrestore.shipping.transaction import replace_files

MODELS = ("glow-denoise", "glow-inpaint", "glow-deblur")  # Table I's rows: the shipped model of each task
MARK = "<!-- measured checkpoints (sha256), written by flowrestore.shipping.reports: "
_RECORD = re.compile(re.escape(MARK) + r"(\{.*?\}) -->")


@dataclass(frozen=True)
class Report:
    path: str  # in the repository
    experiment: str
    dataset: str

    @property
    def command(self) -> str:
        return (f"flowrestore benchmark --dataset {self.dataset} --experiment {self.experiment} "
                "--method glow --method measurement")


REPORTS = (Report("docs/results/table1-celeba.md", "table1", "celeba"),
           Report("docs/results/table4-anime.md", "table4", "anime"))


def recorded(text: str) -> dict[str, str]:
    """The checkpoints (name -> sha256) a report says it measured; {} for a report without a record."""
    found = _RECORD.search(text)
    return json.loads(found.group(1)) if found else {}


def shipped(root: Path) -> dict[str, str]:
    """The registry's sha256 of each Table I model the repository at `root` lists."""
    registry = load_registry(Path(root) / "flowrestore" / "checkpoints.toml")
    return {name: registry[name].sha256 for name in MODELS if name in registry}


def stale(root: Path) -> list[Report]:
    """The reports that did not measure the shipped files (or do not exist)."""
    now = shipped(root)
    out = []
    for report in REPORTS:
        path = Path(root) / report.path
        if not path.exists() or recorded(path.read_text(encoding="utf-8")) != now:
            out.append(report)
    return out


def render(root: Path, report: Report, device: str = "cpu", batch_size: int = 64, limit: int | None = None) -> str:
    """The report as the benchmark writes it (results.md), measured on the repository's shipped files."""
    from flowrestore.benchmark.harness import BenchmarkConfig, run_benchmark
    from flowrestore.benchmark.report import markdown, summarize

    registry = load_registry(Path(root) / "flowrestore" / "checkpoints.toml")
    files = {name: Path(root) / "flowrestore" / registry[name].file for name in MODELS if name in registry}
    config = BenchmarkConfig(experiment=report.experiment, dataset=report.dataset, methods=("glow", "measurement"),
                             device=device, batch_size=batch_size, examples=0, limit=limit)
    result = run_benchmark(config, checkpoints=files)
    measured = {name: registry[name].sha256 for name in files}
    return (markdown(result, summarize(result)).rstrip("\n")
            + f"\n\nWritten by `flowrestore.shipping.reports` after a shipment; the same as `{report.command}`.\n"
            + MARK + json.dumps(measured) + " -->\n")


def refresh(root: Path, device: str = "cpu", batch_size: int = 64, limit: int | None = None) -> list[Path]:
    """Rewrite the stale reports; returns the files written."""
    written = []
    for report in stale(root):
        path = Path(root) / report.path
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_files(Path(root), {path: render(root, report, device, batch_size, limit).encode()})
        written.append(path)
    return written
