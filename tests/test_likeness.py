"""Face-likeness under the shipped celeba-prior: framing, determinism, and the flag."""

from pathlib import Path

import pytest
import torch
from cli_fixtures import checkpoint_dir, one_thread  # noqa: F401 (fixtures)

import flowrestore
from flowrestore.checkpoints import load
from flowrestore.imageio import read_image
from flowrestore.likeness import LIMITS, PRIOR, SIZE, assess, framed, score

DATA = Path(flowrestore.__file__).parent / "data"


@pytest.fixture(scope="module")
def prior():
    return load(PRIOR).model


@pytest.mark.parametrize("h, w", [(64, 64), (48, 80), (300, 200), (20, 20)])
def test_framing_takes_the_centred_square_at_the_prior_size(h, w):
    x = torch.rand(2, 3, h, w)
    assert framed(x).shape == (2, 3, SIZE, SIZE)


def test_a_64x64_image_is_scored_as_it_is():
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(framed(x), x)


def test_scores_are_deterministic_and_faces_score_below_noise(prior):
    faces = torch.stack([read_image(p).rgb for p in sorted((DATA / "celeba").glob("*.png"))[:4]])
    first, again = score(prior, faces), score(prior, faces)
    assert torch.equal(first, again)
    noise = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert first.max() < score(prior, noise).min()


def test_noise_is_flagged_and_a_face_at_the_prior_framing_is_not(prior):
    face = read_image(sorted((DATA / "celeba").glob("*.png"))[0]).rgb
    noise = torch.rand(3, 96, 128, generator=torch.Generator().manual_seed(0))
    found = assess(prior, [face, noise], "denoise")
    assert [f.unusual for f in found] == [False, True]
    assert found[1].limit == LIMITS["denoise"] and "unlike the faces" in found[1].note("noise.png")


def test_a_task_without_a_limit_flags_nothing(prior):
    assert not assess(prior, [torch.rand(3, 64, 64)], "no-such-task")[0].unusual


def test_restore_notes_an_input_unlike_the_training_faces(tmp_path, checkpoint_dir):
    import numpy as np
    from cli_fixtures import write_image
    from typer.testing import CliRunner

    from flowrestore.cli import app

    rng = np.random.default_rng(0)
    source = write_image(tmp_path / "static.png", (rng.random((64, 64, 3)) * 255).astype(np.uint8))
    tiny = str(checkpoint_dir / "tiny-denoise.safetensors")
    done = CliRunner().invoke(app, ["restore", str(source), "--checkpoint", tiny, "--device", "cpu"])
    assert done.exit_code == 0, done.output
    assert "note: static.png looks unlike the faces the model knows" in done.stderr
    assert "face-likeness:" in done.stderr and "1 unlike the training faces" in done.stderr
