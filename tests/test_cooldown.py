"""The learning-rate cool-down: rates falling linearly to zero over a run's last steps, changeable on resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers import TINY_GLOW, write_images
from typer.testing import CliRunner

from flowrestore.cli import app
from flowrestore.errors import UsageError
from flowrestore.training import LoopConfig, PretrainConfig, pretrain
from flowrestore.training.objective import rate_factor
from flowrestore.training.state import load_state


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("faces") / "train", 8, seed=0)


def _config(folder, out: Path, steps: int | None = 6, cooldown: int = 3, **loop) -> PretrainConfig:
    return PretrainConfig(train_dir=folder, out_dir=out, glow=TINY_GLOW, image_size=16, lr=4e-3, warmup_steps=2,
                          cooldown_steps=cooldown, device="cpu",
                          loop=LoopConfig(batch_size=4, max_steps=steps, eval_every=2, **loop))


def test_the_factor_warms_up_then_holds_then_falls_to_one_step_of_the_rate_at_the_last_step():
    factors = [rate_factor(s, warmup=2, cooldown=4, total=10) for s in range(10)]
    assert factors == pytest.approx([0.5, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25])
    assert rate_factor(10, warmup=2, cooldown=4, total=10) == 0  # after the last step: nothing left to move
    assert rate_factor(5, warmup=0, cooldown=0, total=10) == 1  # no cool-down
    assert rate_factor(0, warmup=0, cooldown=20, total=10) == pytest.approx(0.5)  # longer than the run: from step 0


def test_a_run_steps_at_the_scheduled_rates(folder, tmp_path, monkeypatch):
    seen = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    pretrain(_config(folder, tmp_path, steps=6, cooldown=3))
    assert seen == pytest.approx([4e-3 * rate_factor(s, 2, 3, 6) for s in range(6)])
    assert seen[-1] == pytest.approx(4e-3 / 3) and seen[2] == pytest.approx(4e-3)


def test_a_resumed_run_may_take_a_cool_down_and_follows_it_from_its_next_step(folder, tmp_path):
    pretrain(_config(folder, tmp_path, steps=4, cooldown=0))
    result = pretrain(_config(folder, tmp_path, steps=8, cooldown=4), resume=True)
    assert result.step == 8
    lr = load_state(tmp_path / "state.safetensors")["objective"]["optimizer"]["param_groups"][0]["lr"]
    assert lr == pytest.approx(0.0)  # the schedule ended at zero after step 8


def test_a_cool_down_interrupted_and_resumed_equals_an_uninterrupted_one(folder, tmp_path):
    pretrain(_config(folder, tmp_path / "straight", steps=6, cooldown=4, save_every=1))

    def interrupt(event):
        if event["event"] == "step" and event["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(_config(folder, tmp_path / "cut", steps=6, cooldown=4, save_every=1), callback=interrupt)
    pretrain(_config(folder, tmp_path / "cut", steps=6, cooldown=4, save_every=1), resume=True)
    a = load_state(tmp_path / "straight" / "state.safetensors")["objective"]["model"]
    b = load_state(tmp_path / "cut" / "state.safetensors")["objective"]["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("cooldown", [-1, -50])
def test_a_negative_cool_down_is_refused(folder, tmp_path, cooldown):
    with pytest.raises(UsageError, match="--cooldown"):
        _config(folder, tmp_path, cooldown=cooldown)


def test_a_cool_down_needs_a_last_step(folder, tmp_path):
    with pytest.raises(UsageError, match="--cooldown .* --max-steps or --epochs"):
        replace(_config(folder, tmp_path, steps=None, cooldown=0, time_limit=60.0), cooldown_steps=5)


@pytest.mark.parametrize("command", ["pretrain", "finetune"])
@pytest.mark.parametrize("args, message", [(["--time-limit", "60", "--cooldown", "5"], "--max-steps or --epochs"),
                                           (["--max-steps", "5", "--cooldown", "-3"], "--cooldown")])
def test_the_cli_refuses_a_cool_down_it_cannot_follow_in_one_line(folder, tmp_path, command, args, message):
    task = ["--task", "denoise"] if command == "finetune" else []
    result = CliRunner().invoke(app, [command, *task, "--data", str(folder), "-o", str(tmp_path / "run"), *args])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
