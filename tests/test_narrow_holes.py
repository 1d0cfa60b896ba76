"""Holes too narrow for the inpainting model: which pixels they are, and their biharmonic fill."""

import pytest
import torch

from flowrestore.narrow_holes import WIDTH, biharmonic_fill, fill_narrow, find, narrow_part


def _mask(*holes, size=48):
    mask = torch.ones(size, size)
    for rows, cols in holes:
        mask[rows, cols] = 0
    return mask


@pytest.mark.parametrize("side, narrow", [(WIDTH - 1, True), (WIDTH, False), (WIDTH + 5, False)])
def test_a_square_hole_is_narrow_below_the_width(side, narrow):
    found = narrow_part(_mask((slice(10, 10 + side), slice(20, 20 + side))))
    assert int(found.sum()) == (side * side if narrow else 0)


def test_a_stroke_into_a_block_is_narrow_and_the_block_is_not():
    block, stroke = (slice(5, 25), slice(5, 25)), (slice(30, 33), slice(2, 46))
    joint = (slice(24, 31), slice(10, 12))  # joins them
    mask = _mask(block, stroke, joint)
    found = narrow_part(mask)
    assert not found[block].any() and found[stroke].all()
    assert bool(found[25:30, 10:12].all())  # the joint below the block
    assert not found[mask > 0.5].any()  # known pixels are never holes


def test_outside_the_image_counts_as_known():
    assert narrow_part(_mask((slice(0, 5), slice(0, 48)))).all(dim=1)[:5].all()  # a strip along the top edge
    assert not narrow_part(_mask((slice(0, WIDTH), slice(0, WIDTH)))).any()  # a corner square that fits WIDTH
    assert not narrow_part(torch.ones(8, 8)).any()
    assert narrow_part(torch.ones(1, 1, 8, 8)).shape == (8, 8)


def test_a_linear_image_is_biharmonic_and_comes_back_exactly_touching_only_the_free_pixels():
    rows, cols = torch.meshgrid(torch.arange(40.0), torch.arange(50.0), indexing="ij")
    plane = torch.stack([0.2 + 0.01 * rows, 0.7 - 0.005 * cols, 0.3 + 0.004 * (rows + cols)])[None]
    free = torch.zeros(40, 50, dtype=torch.bool)
    free[12:20, 5:45] = True
    start = plane.clone()
    start[..., free] = torch.rand(1, 3, int(free.sum()))
    filled = biharmonic_fill(start, free)
    assert torch.allclose(filled, plane, atol=1e-5)
    assert torch.equal(filled[..., ~free], start[..., ~free])


def test_the_fill_solves_the_biharmonic_equation_whatever_it_starts_from():
    torch.manual_seed(0)
    image = 0.4 + 0.2 * torch.rand(2, 3, 24, 24, dtype=torch.float64)
    image[..., 0, 0], image[..., -1, -1] = 0.0, 1.0  # known values far off: the range cannot bind the fill
    free = torch.zeros(24, 24, dtype=torch.bool)
    free[6:10, 3:20] = True
    free[15, 4:20] = True
    a = biharmonic_fill(image, free)
    other = image.clone()
    other[..., free] = 0.5
    assert torch.allclose(a, biharmonic_fill(other, free), atol=1e-6)
    laplacian = lambda u: (u[..., :-2, 1:-1] + u[..., 2:, 1:-1] + u[..., 1:-1, :-2] + u[..., 1:-1, 2:]  # noqa: E731
                           - 4 * u[..., 1:-1, 1:-1])
    bilaplacian = laplacian(torch.nn.functional.pad(laplacian(a), (1, 1, 1, 1)))[..., 1:-1, 1:-1]  # pixels 2..21
    assert bilaplacian[..., free[2:-2, 2:-2]].abs().max() < 1e-6  # (every free pixel is 3 or more inside)


def test_the_fill_agrees_with_scikit_image():
    restoration = pytest.importorskip("skimage.restoration")
    torch.manual_seed(2)
    blurred = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 40, 40), 5, stride=1, padding=2)  # smooth, in range
    free = narrow_part(_mask((slice(10, 13), slice(5, 35)), (slice(20, 28), slice(20, 28)), size=40))
    ours = biharmonic_fill(blurred, free)[0].permute(1, 2, 0).numpy()
    theirs = restoration.inpaint_biharmonic(blurred[0].permute(1, 2, 0).numpy(), free.numpy(), channel_axis=-1)
    assert abs(ours - theirs).max() < 1e-4


def test_fill_narrow_fills_and_counts_only_the_narrow_part():
    torch.manual_seed(1)
    x_hat = torch.rand(1, 3, 48, 48)
    mask = _mask((slice(5, 25), slice(5, 25)), (slice(30, 33), slice(2, 46)))
    filled, count = fill_narrow(x_hat, mask)
    assert count == 3 * 44
    assert torch.equal(filled[..., 5:25, 5:25], x_hat[..., 5:25, 5:25])  # the block is the model's
    assert not torch.equal(filled[..., 30:33, 2:46], x_hat[..., 30:33, 2:46])
    untouched, none = fill_narrow(x_hat, torch.ones(48, 48))
    assert none == 0 and torch.equal(untouched, x_hat)


def test_the_fill_stays_within_each_channels_known_range():
    torch.manual_seed(3)
    image = torch.rand(2, 3, 24, 24)
    image[:, 1] = 0.3 + 0.1 * image[:, 1]  # a channel with a narrow range, rough enough to overshoot it
    free = torch.zeros(24, 24, dtype=torch.bool)
    free[5:9, 2:22] = True
    filled = biharmonic_fill(image, free)
    known = image[..., ~free]
    assert (filled[..., free] >= known.amin(-1, keepdim=True) - 1e-7).all()
    assert (filled[..., free] <= known.amax(-1, keepdim=True) + 1e-7).all()


def test_find_says_whether_every_hole_is_narrow():
    stroke, block = (slice(30, 33), slice(2, 46)), (slice(5, 25), slice(5, 25))
    narrow, only = find(_mask(stroke))
    assert only and int(narrow.sum()) == 3 * 44
    narrow, only = find(_mask(stroke, block))
    assert not only and int(narrow.sum()) == 3 * 44
    assert find(_mask(block)) == (None, False) and find(torch.ones(48, 48)) == (None, False)
    assert find(torch.zeros(8, 8)) == (None, False)  # all missing in a small image: the prior's, not a grey fill


def test_the_fill_works_on_a_tensor_of_any_memory_layout():
    torch.manual_seed(4)
    image = torch.rand(1, 3, 20, 20)
    free = torch.zeros(20, 20, dtype=torch.bool)
    free[5:8, 2:18] = True
    expected = biharmonic_fill(image, free)
    transposed = image.transpose(-1, -2).contiguous().transpose(-1, -2)  # the same values, columns first
    assert not transposed.is_contiguous()
    assert torch.allclose(biharmonic_fill(transposed, free), expected)
