"""Face-likeness under the shipped celeba-prior: framing, determinism, and the flag."""

from pathlib import Path

import pytest
import torch

import flowrestore
from flowrestore.checkpoints import load
from flowrestore.imageio import read_image
from flowrestore.likeness import LIMITS, PRIOR, SIZE, Likeness, assess, framed, png_bits_per_dim, score

DATA = Path(flowrestore.__file__).parent / "data"


@pytest.fixture(scope="module")
def prior():
    return load(PRIOR).model


def _faces(n: int) -> list[torch.Tensor]:
    return [read_image(p).rgb for p in sorted((DATA / "celeba").glob("*.png"))[:n]]


@pytest.mark.parametrize("h, w", [(48, 80), (300, 200), (20, 20)])
def test_framing_takes_the_centred_square_at_the_prior_size(h, w):
    assert framed(torch.rand(2, 3, h, w)).shape == (2, 3, SIZE, SIZE)


def test_a_64x64_image_is_scored_as_it_is():
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(framed(x), x)


def test_scores_are_deterministic_and_faces_score_far_below_noise(prior):
    faces = torch.stack(_faces(4))
    first = score(prior, faces)
    assert torch.equal(first, score(prior, faces))
    assert first.max() < score(prior, torch.rand(4, 3, 64, 64)).min()


def test_complexity_is_png_bits_per_dim():
    assert png_bits_per_dim(torch.full((3, 64, 64), 0.5)) < 0.5 < 7.5 < png_bits_per_dim(torch.rand(3, 64, 64))


def test_each_limit_flags():
    limits = (2.5, 7.0, -1.0, 2.0)
    face = Likeness(6.0, 5.0, limits)
    complex_, simple, drawn = Likeness(8.0, 7.5, limits), Likeness(3.0, 0.2, limits), Likeness(4.0, 6.0, limits)
    flat = Likeness(2.0, 0.5, limits)  # S within its range, bits/dim below every face's
    assert not face.unusual and complex_.unusual and simple.unusual and drawn.unusual and flat.unusual
    assert "8.00 bits/dim, above the 7.00" in complex_.note("x.png") and "too simple" in simple.note("x.png")
    assert "below the -1.00" in drawn.note("x.png")
    assert "too simple: 2.00 bits/dim, below the 2.50" in flat.note("x.png")
    assert not Likeness(99.0, 0.0).unusual  # a task without limits


def test_flat_gradient_and_noise_images_are_flagged_and_faces_mostly_not(prior):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    odd = [torch.full((3, 64, 64), 0.5), torch.stack([xx, yy, 0.5 * torch.ones_like(xx)]), torch.rand(3, 96, 128)]
    # Inpainting's restorations are nearly the clean images: its limits fit clean faces.
    assert all(f.unusual for f in assess(prior, odd, "inpaint"))
    assert sum(f.unusual for f in assess(prior, _faces(8), "inpaint")) <= 2


def test_restore_notes_an_input_unlike_the_training_faces(tmp_path, checkpoint_dir):
    import numpy as np
    from cli_fixtures import write_image
    from typer.testing import CliRunner

    from flowrestore.cli import app

    source = write_image(tmp_path / "flat.png", np.full((64, 64, 3), 128, dtype=np.uint8))
    tiny = str(checkpoint_dir / "tiny-denoise.safetensors")
    done = CliRunner().invoke(app, ["restore", str(source), "--checkpoint", tiny, "--device", "cpu"])
    assert done.exit_code == 0, done.output
    assert "face-likeness under celeba-prior" in done.stderr
    assert "note: flat.png looks unlike the faces the model knows (too simple" in done.stderr
    assert "1 unlike the training faces" in done.stderr


def test_each_shipped_solver_has_its_limits_and_other_solvers_borrow_their_tasks():
    from flowrestore.checkpoints import load_registry
    from flowrestore.likeness import NO_LIMITS, limits_for

    solvers = [e.name for e in load_registry().values() if e.kind == "solver"]
    assert sorted(LIMITS) == sorted(solvers)
    for name in solvers:
        low, high, s_low, s_high = limits_for(name, "denoise")
        assert low < high and s_low < s_high
    assert limits_for("runs/mine/best.safetensors", "deblur") == LIMITS["glow-deblur"]
    assert limits_for(None, "inpaint") == LIMITS["glow-inpaint"]
    # a noise-aware denoiser's file (e.g. a run's best) is judged like the shipped noise-aware one
    assert limits_for("runs/aware/best.safetensors", "denoise", noise_aware=True) == LIMITS["glow-denoise-aware"]
    assert limits_for("runs/plain/best.safetensors", "denoise") == LIMITS["glow-denoise"]
    assert limits_for("glow-denoise", "denoise", noise_aware=True) == LIMITS["glow-denoise"]  # its own limits
    assert limits_for(None, "deblur", noise_aware=True) == LIMITS["glow-deblur"]
    assert limits_for(None, "colourise") == NO_LIMITS


def test_a_note_never_shows_a_score_equal_to_the_limit_it_crossed():
    from flowrestore.likeness import Likeness

    note = Likeness(3.81, 3.81 + 1.7904, (2.0, 5.0, -1.79, 0.0)).note("a.png")
    assert "S = -1.7904, below the -1.79" in note
    assert "S = -2.50, below" in Likeness(3.0, 5.5, (2.0, 5.0, -1.79, 0.0)).note("a.png")
