"""Run folders: a run is never overwritten, a resume is the same run, what a kill leaves is cleaned,
bad training input and options are one-line errors."""

from __future__ import annotations

import importlib
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_GLOW, write_images
from PIL import Image
from typer.testing import CliRunner

from flowrestore.cli import app
from flowrestore.errors import ImageReadError
from flowrestore.training import LoopConfig, PretrainConfig, TrainingError, data, pretrain

pretrain_module = importlib.import_module("flowrestore.training.pretrain")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("faces") / "train", 8, seed=0)


def _config(folder, out: Path, steps: int = 2, **changes) -> PretrainConfig:
    config = PretrainConfig(
        train_dir=folder, out_dir=out, glow=TINY_GLOW, image_size=16, lr=5e-3, warmup_steps=2, device="cpu",
        loop=LoopConfig(batch_size=4, max_steps=steps, eval_every=2),
    )
    return replace(config, **changes)


def test_a_folder_holding_a_run_is_refused_unless_resume_or_force(folder, tmp_path):
    pretrain(_config(folder, tmp_path))
    before = (tmp_path / "best.safetensors").read_bytes()
    with pytest.raises(TrainingError, match="already holds a run .* --resume .* --force"):
        pretrain(_config(folder, tmp_path))
    assert (tmp_path / "best.safetensors").read_bytes() == before
    with pytest.raises(TrainingError, match="give one of them"):
        pretrain(_config(folder, tmp_path), resume=True, force=True)
    assert pretrain(_config(folder, tmp_path), force=True).step == 2


def test_resume_refuses_a_changed_configuration_and_names_each_change(folder, tmp_path):
    pretrain(_config(folder, tmp_path))
    loop = replace(_config(folder, tmp_path).loop, seed=1, batch_size=2)
    with pytest.raises(TrainingError, match="cannot resume") as changed:
        pretrain(_config(folder, tmp_path, lr=1e-2, loop=loop), resume=True)
    for change in ("--batch-size 4 -> 2", "--lr 0.005 -> 0.01", "--seed 0 -> 1"):
        assert change in str(changed.value)
    with pytest.raises(TrainingError, match=r"--image-size 16 -> 32"):
        pretrain(_config(folder, tmp_path, image_size=32), resume=True)
    with pytest.raises(TrainingError, match=r"--preset \(glow hidden\) 8 -> 16"):
        pretrain(_config(folder, tmp_path, glow=replace(TINY_GLOW, hidden=16)), resume=True)


def test_resume_accepts_the_same_data_reached_by_another_path_and_refuses_other_data(folder, tmp_path):
    run = tmp_path / "run"
    pretrain(_config(folder, run))
    link = tmp_path / "link-to-faces"
    link.symlink_to(folder, target_is_directory=True)
    assert pretrain(_config(link, run, steps=4), resume=True).step == 4
    other = write_images(tmp_path / "other", 8, seed=1)
    with pytest.raises(TrainingError, match="--data .* -> .*other"):
        pretrain(_config(other, run, steps=6), resume=True)


def test_a_copied_prior_file_is_the_same_prior_and_a_changed_one_is_not(tmp_path):
    from flowrestore.training.rundir import changes

    a, b, c = tmp_path / "a.safetensors", tmp_path / "b.safetensors", tmp_path / "c.safetensors"
    a.write_bytes(b"weights")
    b.write_bytes(b"weights")
    c.write_bytes(b"other!!")
    assert changes({"prior": str(a)}, {"prior": str(b)}) == []
    assert changes({"prior": str(a)}, {"prior": str(c)}) == [f"--prior {a} -> {c}"]
    assert changes({"prior": str(a)}, {"prior": str(tmp_path / "gone")}) != []


def test_resume_may_train_longer_and_a_finished_run_trains_nothing(folder, tmp_path):
    pretrain(_config(folder, tmp_path))
    state = (tmp_path / "state.safetensors").read_bytes()
    again = pretrain(_config(folder, tmp_path), resume=True)
    assert again.stop_reason.startswith("already finished") and again.step == 2
    assert (tmp_path / "state.safetensors").read_bytes() == state
    assert pretrain(_config(folder, tmp_path, steps=4), resume=True).step == 4


def test_temporary_files_left_by_a_kill_are_removed_at_the_next_start(folder, tmp_path):
    pretrain(_config(folder, tmp_path))
    stale = [tmp_path / ".best.safetensors.k1ll3d.tmp", tmp_path / ".state.safetensors.x9.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    (tmp_path / "notes.tmp").write_text("not ours")
    pretrain(_config(folder, tmp_path, steps=4), resume=True)
    assert not any(p.exists() for p in stale) and (tmp_path / "notes.tmp").exists()


def test_an_unreadable_state_is_a_one_line_error(folder, tmp_path):
    tmp_path.joinpath("state.safetensors").write_bytes(b"killed")
    with pytest.raises(TrainingError, match="not a readable training state .* --force"):
        pretrain(_config(folder, tmp_path), resume=True)


def test_a_divergence_before_any_checkpoint_says_none_was_written(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrain_module.PretrainObjective, "train_step", lambda self, step: math.nan)
    with pytest.raises(TrainingError, match="no checkpoint was written") as error:
        pretrain(_config(folder, tmp_path / "run"))
    assert str(tmp_path / "run") not in str(error.value)


def test_an_infinite_evaluation_is_never_the_best(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrain_module.PretrainObjective, "evaluate", lambda self: {"val_bpd": math.inf})
    result = pretrain(_config(folder, tmp_path))
    assert result.best is None and result.best_path is None
    assert not (tmp_path / "best.safetensors").exists()


def test_unreadable_training_images_are_named_all_at_once(tmp_path):
    images = write_images(tmp_path / "train", 3)
    (images / "notes.png").write_text("not an image")
    good = (images / "img_000.png").read_bytes()
    (images / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(ImageReadError, match=r"2 images cannot be used: .*cut.png.*notes.png"):
        data.load_folder(images, 16)


def test_a_file_given_as_data_says_so(tmp_path):
    image = tmp_path / "face.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(image)
    with pytest.raises(ValueError, match="face.png is a file; give the folder"):
        data.list_images(image)


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(
    "option, value",
    [("--epochs", "-1"), ("--max-steps", "0"), ("--time-limit", "-1"), ("--eval-every", "0"), ("--warmup", "-10"),
     ("--patience", "0"), ("--epochs", "nan"), ("--batch-size", "0"), ("--lr", "0")],
)
def test_out_of_range_training_options_are_one_line_usage_errors(folder, tmp_path, option, value):
    extra = [] if option in ("--epochs", "--max-steps", "--time-limit") else ["--max-steps", "1"]
    result = _cli("pretrain", "--data", folder, "--out", tmp_path / "run", "--device", "cpu", *extra, option, value)
    assert result.exit_code == 1 and result.stderr.startswith("error: "), result.output
    assert option in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_an_image_size_the_flow_cannot_take_gets_training_advice(folder, tmp_path):
    result = _cli("pretrain", "--data", folder, "--out", tmp_path / "run", "--device", "cpu", "--preset", "tiny",
                  "--max-steps", "1", "--image-size", "30")
    assert result.exit_code == 1 and "--image-size 30 is not a multiple of 4" in result.stderr
    assert "--image-size 28 or 32" in result.stderr and "pad" not in result.stderr


def test_the_cli_refuses_to_overwrite_a_run_and_resumes_it(folder, tmp_path):
    args = ["pretrain", "--data", folder, "--out", tmp_path, "--device", "cpu", "--preset", "tiny", "--image-size", 16,
            "--batch-size", 4, "--max-steps", 1, "--eval-every", 1]
    assert _cli(*args).exit_code == 0
    refused = _cli(*args)
    assert refused.exit_code == 1 and "already holds a run" in refused.stderr and "Traceback" not in refused.output
    changed = _cli(*args[:-4], "--max-steps", 1, "--eval-every", 1, "--preset", "compact", "--resume")
    assert changed.exit_code == 1 and "--preset tiny -> compact" in changed.stderr, changed.output
    finished = _cli(*args, "--resume")
    assert finished.exit_code == 0 and "already finished" in finished.output


@pytest.mark.parametrize("value", ["-1", "1.5", "many"])
def test_a_bad_finetune_warmup_is_a_usage_error(folder, tmp_path, value):
    result = _cli("finetune", "--task", "denoise", "--data", folder, "--out", tmp_path / "run", "--device", "cpu",
                  "--max-steps", "1", "--warmup", value)
    assert result.exit_code == 1 and result.stderr.startswith("error: "), result.output
    assert "--warmup" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
