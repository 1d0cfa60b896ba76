"""The shipped default checkpoints reproduce the metrics recorded in checkpoints.toml (within 0.05 dB)."""

import pytest

from flowrestore.benchmark import BenchmarkConfig, run_benchmark
from flowrestore.benchmark.methods import method_for_checkpoint
from flowrestore.benchmark.report import summarize
from flowrestore.checkpoints import list_checkpoints, resolve


@pytest.mark.slow
@pytest.mark.parametrize("name", ["glow-denoise", "glow-denoise-aware", "glow-inpaint", "glow-deblur"])
def test_benchmark_reproduces_the_registry_psnr(name):
    entry = {e.name: e for e in list_checkpoints()}[name]
    task = entry.task_name
    method = method_for_checkpoint(name, task)
    config = BenchmarkConfig(experiment="table1", dataset="celeba", tasks=(task,), methods=(method,), batch_size=64)
    result = run_benchmark(config, {name: resolve(name, task=task)})
    (cell,) = summarize(result)
    assert cell.n == 489
    assert cell.psnr == pytest.approx(entry.metrics["psnr"], abs=0.05)
    # and the model restores: far above the measurement itself
    assert cell.psnr > {"denoise": 20.0, "inpaint": 25.0, "deblur": 18.0}[task]


def test_benchmark_cli_runs_out_of_the_box_on_the_bundled_sets(tmp_path):
    from typer.testing import CliRunner

    from flowrestore.cli import app

    for dataset in ("anime", "celeba"):
        out = tmp_path / dataset
        done = CliRunner().invoke(
            app, ["benchmark", "--dataset", dataset, "--limit", "2", "--method", "glow", "--out", str(out)]
        )
        assert done.exit_code == 0, done.output
        assert {"results.md", "results.csv", "summary.json"} <= {p.name for p in out.iterdir()}
        assert len(list(out.glob("*.png"))) == 3


def test_restore_degrade_measures_and_scores_an_image_as_the_benchmark_does(tmp_path):
    """Both seed the noise by file name: the same image gets the same y, estimate and PSNR."""
    import re

    from typer.testing import CliRunner

    from flowrestore.benchmark.datasets import DATA_ROOT
    from flowrestore.cli import app

    config = BenchmarkConfig(experiment="table1", dataset="celeba", tasks=("denoise",), methods=("glow",), limit=1)
    (record,) = run_benchmark(config, {"glow-denoise": resolve("glow-denoise", task="denoise")}).records
    image = DATA_ROOT / "celeba" / record.image
    done = CliRunner().invoke(
        app, ["restore", str(image), "--task", "denoise", "--degrade", "--output", str(tmp_path / "out.png")]
    )
    assert done.exit_code == 0, done.output
    (printed,) = re.findall(rf"{re.escape(image.name)}\s+PSNR\s+([\d.]+) dB", done.output)
    assert float(printed) == pytest.approx(record.psnr, abs=0.006)


def test_the_results_reports_in_docs_measured_the_shipped_files():
    """docs/results/table1-celeba.md and table4-anime.md are the benchmark's output for the files the registry
    ships (rewritten by the pipeline after each shipment, or by scripts/refresh_registry.py --reports)."""
    from pathlib import Path

    from flowrestore.shipping import reports

    root = Path(__file__).resolve().parents[1]
    assert reports.stale(root) == [], "run: python scripts/refresh_registry.py --reports"


def test_the_readme_gives_each_bundled_file_its_size():
    """The README's checkpoint table says how large each bundled file is, to the 0.1 MB it prints."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rows = dict(re.findall(r"^\| `([\w-]+)` \|.*\| ([\d.]+) MB \|$", (root / "README.md").read_text(), re.M))
    bundled = [e for e in list_checkpoints() if (root / "flowrestore" / e.file).is_file()]
    assert bundled, "no bundled checkpoint found"
    for entry in bundled:
        assert entry.name in rows, f"README's checkpoint table has no row for {entry.name}"
        size = (root / "flowrestore" / entry.file).stat().st_size / 1e6
        assert float(rows[entry.name]) == pytest.approx(size, abs=0.05), entry.name


def test_the_tracked_files_stay_within_the_size_budget():
    """30 MB in all: every device call carries the tree with the training data within 64 MiB."""
    from pathlib import Path

    from flowrestore.shipping import tree_size

    root = Path(__file__).resolve().parents[1]
    assert tree_size.tracked_bytes(root) <= tree_size.SIZE_BUDGET
