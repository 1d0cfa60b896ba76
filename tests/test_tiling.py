"""Tiled restoration: windows that sum to one, tiles on the model's grid, and tiled = untiled."""

import pytest
import torch

from flowrestore.flow import Glow, GlowConfig
from flowrestore.operators import TaskSpec
from flowrestore.restore import solve
from flowrestore.solver import SolverConfig, UnrolledSolver
from flowrestore.tiling import Tiling, count_tiles, solve_tiled, spans, window

# One level, one step of flow, two folds: every output pixel depends on input pixels at most
# about 20 away (two 3x3 convolutions at half resolution per coupling, encode and decode, per
# fold), so a tile padding of 24 leaves only pixels that see exactly what the untiled solver sees.
REACH = 24


@pytest.fixture(scope="module")
def model():
    prior = Glow(GlowConfig(levels=1, depth=1, hidden=4))
    with torch.no_grad():
        prior(torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
        for name, p in prior.named_parameters():
            if "net.4" in name:  # the zero-initialised last convolutions: make the couplings act
                p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return UnrolledSolver.from_prior(prior, SolverConfig(folds=2)).eval()


@pytest.mark.parametrize("length, tile, stride", [(100, 40, 16), (64, 64, 8), (30, 64, 8), (97, 32, 8)])
def test_spans_cover_the_axis_on_the_grid_and_end_at_the_border(length, tile, stride):
    found = spans(length, tile, stride)
    assert found[0][0] == 0 and found[-1][1] == length
    assert all(a % 8 == 0 and b - a == min(tile, length) for a, b in found[:-1])
    assert all(b2 > a2 > a1 for (a1, _), (a2, b2) in zip(found, found[1:]))


def test_neighbouring_windows_sum_to_one_and_borders_keep_weight_one():
    pad, ramp, tile, stride, length = 5, 6, 40, 24, 40 + 3 * 24
    total = torch.zeros(length)
    for a, b in [(s, s + tile) for s in range(0, length - tile + 1, stride)]:
        total[a:b] += window(a, b, length, pad, ramp)
    assert torch.allclose(total, torch.ones(length), atol=1e-6)
    inner = window(24, 64, length, pad, ramp)
    assert inner[:pad].eq(0).all() and inner[pad + ramp : -pad - ramp].eq(1).all()


@pytest.mark.parametrize(
    "task", [TaskSpec("denoise", noise_sigma=0.1), TaskSpec("deblur", blur_sigma=1.0), TaskSpec("inpaint", box=9)]
)
def test_tiled_equals_untiled_when_the_padding_covers_the_reach(model, task):
    # Deblurring adds the kernel's radius twice per fold (A, then its adjoint).
    pad = REACH + (2 * 2 * (task.kernel_size // 2) if task.task == "deblur" else 0)
    tiling = Tiling(tile=2 * pad + 16, pad=pad, ramp=4)
    y = torch.rand(2, 3, 2 * pad + 40, 2 * pad + 60, generator=torch.Generator().manual_seed(1))
    assert count_tiles(*y.shape[-2:], tiling, model.size_multiple) > 4
    mask = (torch.rand(y.shape[-2:], generator=torch.Generator().manual_seed(2)) > 0.3).float()
    mask = mask if task.task == "inpaint" else None
    whole, tiled = solve(model, y, task, mask), solve_tiled(model, y, task, mask, tiling, batch_size=3)
    assert (tiled - whole).abs().max() < 1e-5


def test_with_less_padding_tiles_differ_only_near_their_cuts_and_little(model):
    task = TaskSpec("deblur", blur_sigma=1.0)  # of the three, it reaches farthest
    tiling = Tiling(tile=112, pad=4, ramp=4)
    y = torch.rand(1, 3, 160, 160, generator=torch.Generator().manual_seed(3))
    error = (solve_tiled(model, y, task, tiling=tiling) - solve(model, y, task)).abs().amax(dim=(0, 1))  # (H, W)
    assert spans(160, 112, tiling.stride(model.size_multiple)) == [(0, 112), (48, 160)]
    near = torch.zeros(160, dtype=torch.bool)
    near[48 : 112] = True  # within pad + ramp + reach of a cut (at 48 and at 112)
    far = ~near[:, None] & ~near[None, :]
    assert error[far].max() < 1e-5
    assert 1e-5 < error.max() < 0.01


def test_an_image_that_fits_one_tile_is_solved_whole(model):
    y = torch.rand(2, 3, 20, 28)
    task = TaskSpec("denoise", noise_sigma=0.1)
    calls = []
    x_hat = solve_tiled(model, y, task, tiling=Tiling(tile=32, pad=4), progress=calls.append)
    assert torch.equal(x_hat, solve(model, y, task)) and calls == [2]


def test_progress_counts_every_tile(model):
    tiling = Tiling(tile=32, pad=4, ramp=4)
    calls = []
    solve_tiled(model, torch.rand(1, 3, 60, 40), TaskSpec("denoise"), tiling=tiling, batch_size=4, progress=calls.append)
    assert sum(calls) == count_tiles(60, 40, tiling, model.size_multiple) and max(calls) <= 4


def test_deblurring_refuses_a_padding_below_the_kernel_radius(model):
    task = TaskSpec("deblur", blur_sigma=2.0, blur_kernel=15)
    with pytest.raises(ValueError, match="--tile-pad of at least 7"):
        solve_tiled(model, torch.rand(1, 3, 64, 64), task, tiling=Tiling(tile=32, pad=4))


@pytest.mark.parametrize("tile, pad", [(20, 8), (16, 4)])
def test_a_tile_too_small_for_its_padding_is_refused(tile, pad):
    with pytest.raises(ValueError, match="--tile"):
        Tiling(tile=tile, pad=pad, ramp=4).stride(8)


def test_default_padding_grows_with_the_blur_kernel():
    from flowrestore.tiling import default_pad

    assert default_pad(TaskSpec("denoise")) == default_pad(TaskSpec("inpaint")) == 48
    assert default_pad(TaskSpec("deblur", blur_sigma=5.0, blur_kernel=5)) == 56  # 48 + 3 * 2, on the grid of 8
    assert default_pad(TaskSpec("deblur", blur_sigma=5.0, blur_kernel=31)) == 96  # the shipped model's periodic blur
