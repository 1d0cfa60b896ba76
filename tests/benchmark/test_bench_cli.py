"""`flowrestore benchmark` as a user meets it: options, exit codes, files, skipped rows."""

import pytest
import typer
from typer.testing import CliRunner

from flowrestore.cli.benchmark import benchmark


@pytest.fixture
def app():
    """A throwaway app; the project's own registers the same function with app.command()."""
    app = typer.Typer()
    app.command()(benchmark)

    @app.callback()
    def main() -> None:
        pass

    return app


@pytest.fixture
def registry(monkeypatch, checkpoint_dir, tmp_path):
    """The default registry replaced by one that knows only the GLOW task models."""
    from cli_fixtures import sha256, write_registry

    import flowrestore.checkpoints

    rows = [{"name": f"glow-{task}", "kind": "solver", "file": str(checkpoint_dir / f"glow-{task}.safetensors"),
             "sha256": sha256(checkpoint_dir / f"glow-{task}.safetensors"), "task": {"task": task}}
            for task in ("denoise", "inpaint", "deblur")]
    monkeypatch.setattr(flowrestore.checkpoints, "REGISTRY", write_registry(tmp_path / "registry.toml", rows))


def test_writes_every_file_with_a_checkpoint_folder(app, image_folder, checkpoint_dir, tmp_path):
    out = tmp_path / "run"
    args = ["benchmark", "--dataset", str(image_folder), "--limit", "2", "--task", "inpaint", "--method", "glow",
            "--method", "biharmonic", "--checkpoint-dir", str(checkpoint_dir), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "GLOW prox" in result.output and "biharmonic" in result.output
    assert {p.name for p in out.iterdir()} == {"results.md", "results.csv", "summary.json", "figure-inpaint-19x19.png"}
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 2 * 2


def test_examples_sets_the_figure_size_and_zero_writes_none(app, image_folder, checkpoint_dir, tmp_path):
    base = ["benchmark", "--dataset", str(image_folder), "--limit", "2", "--task", "inpaint", "--method", "glow",
            "--checkpoint-dir", str(checkpoint_dir)]
    result = CliRunner().invoke(app, [*base, "--examples", "0", "--out", str(tmp_path / "none")])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "none").iterdir()} == {"results.md", "results.csv", "summary.json"}
    bad = CliRunner().invoke(app, [*base, "--examples", "-1"])
    assert isinstance(bad.exception, ValueError) and "--examples must be 0 or more" in str(bad.exception)


def test_refuses_a_non_empty_out_folder_without_force(app, image_folder, tmp_path):
    (tmp_path / "old.txt").write_text("keep me")
    args = ["benchmark", "--dataset", str(image_folder), "--limit", "1", "--method", "measurement",
            "--checkpoint-dir", str(tmp_path), "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, ValueError) and "--force" in str(result.exception)
    forced = CliRunner().invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "old.txt").read_text() == "keep me"


def test_output_force_and_batch_size_are_spelled_as_in_restore(app, image_folder, tmp_path):
    """-o/--output (with --out kept), -f/--force and -b/--batch-size, as restore and training spell them."""
    (tmp_path / "old.txt").write_text("keep me")
    args = ["benchmark", "--dataset", str(image_folder), "--limit", "1", "--method", "measurement",
            "--checkpoint-dir", str(tmp_path), "-b", "2"]
    for spelling in (["-o", str(tmp_path), "-f"], ["--output", str(tmp_path / "b")], ["--out", str(tmp_path / "c")]):
        result = CliRunner().invoke(app, [*args, *spelling])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "results.md").exists() and (tmp_path / "b" / "results.md").exists()
    assert (tmp_path / "c" / "results.md").exists()


def test_registry_misses_become_notes_with_skip_missing(app, image_folder, registry):
    args = ["benchmark", "--dataset", str(image_folder), "--limit", "2", "--task", "denoise",
            "--method", "glow", "--method", "unet", "--skip-missing"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "GLOW prox (proposed)" in result.output
    assert "skipped unet (denoise sigma=0.2): its checkpoints (unet-<task>) are not in the registry" in result.output
    assert "scripts/train_baselines.py" in result.output and "--checkpoint-dir DIR" in result.output


def test_a_requested_method_that_cannot_run_fails_after_the_table(app, image_folder, registry):
    args = ["benchmark", "--dataset", str(image_folder), "--limit", "2", "--task", "denoise",
            "--method", "glow", "--method", "unet"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code != 0 and "GLOW prox (proposed)" in result.output  # the rows that ran are shown
    assert "could not run unet" in str(result.exception) and "--skip-missing" in str(result.exception)


def test_every_row_skipped_or_a_missing_checkpoint_dir_is_an_error(app, image_folder, tmp_path):
    args = ["benchmark", "--dataset", str(image_folder), "--limit", "1", "--task", "denoise", "--method", "glow"]
    empty = CliRunner().invoke(app, [*args, "--checkpoint-dir", str(tmp_path)])
    assert empty.exit_code != 0 and "could not run glow" in str(empty.exception)
    gone = CliRunner().invoke(app, [*args, "--checkpoint-dir", str(tmp_path / "nope")])
    assert gone.exit_code != 0 and "is not a folder" in str(gone.exception)


def test_out_that_is_a_file_is_refused_even_with_force(app, image_folder, tmp_path):
    (tmp_path / "file").write_text("x")
    args = ["benchmark", "--dataset", str(image_folder), "--limit", "1", "--method", "measurement",
            "--out", str(tmp_path / "file"), "--force"]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ValueError) and "is a file" in str(result.exception)


def test_unreadable_images_and_mixed_sizes_are_one_line_errors_that_say_what_to_do(tmp_path, smooth):
    import numpy as np
    from PIL import Image

    from flowrestore.benchmark.datasets import load_images
    from flowrestore.errors import ImageReadError

    Image.fromarray((smooth(0, 16) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    Image.fromarray((smooth(1, 8) * 255).astype(np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match=r"different sizes \(8x8, 16x16\); pass --size N"):
        load_images(str(tmp_path))
    (tmp_path / "c.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="c.png is not an image"):
        load_images(str(tmp_path), size=8)


def test_image_sizes_the_models_cannot_take_are_one_line_errors_that_name_a_size(app, tmp_path, smooth,
                                                                                checkpoint_dir):
    import numpy as np
    from PIL import Image

    for i in range(2):
        Image.fromarray((smooth(i, 30) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    common = ["benchmark", "--dataset", str(tmp_path), "--task", "denoise", "--checkpoint-dir", str(checkpoint_dir),
              "--examples", "0"]
    for size in ("0", "7", "-8"):
        result = CliRunner().invoke(app, [*common, "--method", "measurement", "--size", size])
        assert isinstance(result.exception, ValueError) and "--size must be at least 8" in str(result.exception)
    for extra, side, fit in (([], 30, 28), (["--size", "18"], 18, 16)):  # the tiny models need multiples of 4
        result = CliRunner().invoke(app, [*common, "--method", "glow", *extra])
        assert isinstance(result.exception, ValueError), result.output
        assert f"the images are {side}x{side}, but glow needs sides that are multiples of 4; pass --size {fit}" \
            in str(result.exception)
    classical = CliRunner().invoke(app, [*common, "--method", "measurement", "--method", "tv"])
    assert classical.exit_code == 0, classical.output  # methods that take any size still run
    fitted = CliRunner().invoke(app, [*common, "--method", "glow", "--size", "16"])
    assert fitted.exit_code == 0, fitted.output


@pytest.mark.parametrize("extra, words", [(["--dataset", "nope"], "neither celeba nor anime"),
                                          (["--limit", "0"], "--limit must be at least 1")])
def test_an_error_before_the_first_image_is_one_line_with_no_bar_above_it(image_folder, tmp_path, extra, words):
    from flowrestore.cli import app

    args = ["benchmark", "--dataset", str(image_folder), "--method", "measurement", "--device", "cpu",
            "--out", str(tmp_path / "out"), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and words in result.output and result.output.count("\n") == 1
