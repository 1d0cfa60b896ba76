"""Operators: exact adjoints, fixed parameters, seeded measurements."""

import pytest
import torch

from flowrestore.operators import Blur, Denoise, Inpaint, TaskSpec, centre_box_mask, measure, measure_each

SHAPES = [(1, 3, 8, 8), (2, 3, 64, 64), (3, 1, 17, 24), (2, 3, 5, 40)]


def _operators(h, w):
    return [
        Denoise(),
        Inpaint(torch.rand(h, w) > 0.3),
        Inpaint.centre(h, w, box=min(h, w, 19)),
        Blur(1.5),
        Blur(5.0),
    ]


@pytest.mark.parametrize("shape", SHAPES)
def test_adjointness(float64, shape):
    for op in _operators(*shape[-2:]):
        op = op.double()
        assert op.adjointness_gap(shape) < 1e-10, op


def test_centre_mask_matches_asim_et_al():
    mask = centre_box_mask(64, 64, 19)[0, 0]
    hole = (mask == 0).nonzero()
    assert hole[:, 0].min() == 22 and hole[:, 0].max() == 40
    assert hole[:, 1].min() == 22 and hole[:, 1].max() == 40
    assert int((mask == 0).sum()) == 19 * 19


def test_blur_preserves_constants_and_is_a_contraction(float64):
    op = Blur(5.0).double()
    x = torch.full((1, 3, 64, 64), 0.7)
    assert torch.allclose(op.A(x), x, atol=1e-12)
    assert op.kernel.shape == (31, 31)
    z = torch.randn(2, 3, 64, 64)
    assert op.A(z).norm() <= z.norm()


def test_blur_kernel_cropped_to_small_images(float64):
    op = Blur(5.0).double()
    x = torch.rand(1, 3, 8, 6)
    assert op.A(x).shape == x.shape
    assert op.adjointness_gap((1, 3, 8, 6)) < 1e-10


def test_operator_parameters_are_buffers():
    op = Inpaint.centre()
    assert list(op.parameters()) == []
    assert [n for n, _ in op.named_buffers()] == ["mask"]
    assert [n for n, _ in Blur(2.0).named_buffers()] == ["kernel"]


def test_inpaint_rejects_wrong_sized_image():
    with pytest.raises(ValueError, match="mask is 64x64 but the image is 32x32"):
        Inpaint.centre().A(torch.rand(1, 3, 32, 32))


def test_measurements_are_reproducible_from_seed():
    x = torch.rand(2, 3, 16, 16)
    a = measure(x, Denoise(), 0.2, seed=7)
    assert torch.equal(a, measure(x, Denoise(), 0.2, seed=7))
    assert not torch.equal(a, measure(x, Denoise(), 0.2, seed=8))
    # per-image seeds make a measurement independent of batching
    both = measure_each(x, Denoise(), 0.2, [3, 4])
    assert torch.equal(both[1:], measure_each(x[1:], Denoise(), 0.2, [4]))
    assert abs(float((a - x).std()) - 0.2) < 0.02


def test_task_spec_validates():
    assert TaskSpec.default("denoise").noise_sigma == 0.2
    assert isinstance(TaskSpec.default("deblur").operator(64, 64), Blur)
    with pytest.raises(ValueError, match="unknown task"):
        TaskSpec("superres")
    with pytest.raises(ValueError, match="noise sigma"):
        TaskSpec("denoise", noise_sigma=3)
