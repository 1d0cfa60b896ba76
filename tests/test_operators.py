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
        Blur(5.0, kernel_size=None, boundary="periodic"),
        Blur(1.5, kernel_size=3, boundary="periodic"),
        Blur(8.0, kernel_size=7),
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


def test_periodic_blur_preserves_constants_and_is_a_contraction(float64):
    op = Blur(5.0, kernel_size=None, boundary="periodic").double()
    x = torch.full((1, 3, 64, 64), 0.7)
    assert torch.allclose(op.A(x), x, atol=1e-12)
    assert op.kernel.shape == (31, 31)
    z = torch.randn(2, 3, 64, 64)
    assert op.A(z).norm() <= z.norm()


def test_default_blur_is_the_papers_5x5_zero_padded_on_centred_images(float64):
    op = Blur(5.0).double()
    assert op.kernel.shape == (5, 5) and op.boundary == "zero"
    taps = op.kernel.sum(0)  # the 1-D profile: nearly flat at sigma 5 (the paper's figures: ~0.2 each)
    g = torch.exp(-torch.tensor([4.0, 1.0, 0.0, 1.0, 4.0], dtype=torch.float64) / 50)
    assert torch.allclose(taps, g / g.sum(), atol=1e-12)
    assert torch.allclose(op.kernel, torch.outer(taps, taps), atol=1e-12)
    # y = k * (x - 1/2) + 1/2 with zero padding: interior constants kept, the border fades to grey
    x = torch.full((1, 3, 16, 16), 0.9)
    y = op.measure_clean(x)
    assert torch.allclose(y[..., 2:-2, 2:-2], x[..., 2:-2, 2:-2], atol=1e-12)
    corner = 0.5 + 0.4 * float(op.kernel[2:, 2:].sum())
    assert abs(float(y[0, 0, 0, 0]) - corner) < 1e-12
    # the same as a direct sum over the kernel's support
    z = torch.randn(1, 1, 9, 9)
    i, j = 4, 1
    direct = sum(
        float(op.kernel[a, b]) * float(z[0, 0, i + a - 2, j + b - 2])
        for a in range(5) for b in range(5) if 0 <= j + b - 2 < 9
    )
    assert abs(float(op.A(z)[0, 0, i, j]) - direct) < 1e-12


def test_inpainting_hole_reads_as_grey():
    x = torch.rand(1, 3, 64, 64)
    y = Inpaint.centre(64, 64, 19).measure_clean(x)
    assert torch.all(y[..., 22:41, 22:41] == 0.5)
    assert torch.equal(y[..., :22, :], x[..., :22, :])


def test_solver_data_step_is_invariant_to_the_centring_for_shift_free_operators(float64):
    # For A with A 1 = 1 (identity, periodic blur), A(x - c) - (y - c) = A x - y.
    x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    for op in (Denoise(), Blur(2.0, kernel_size=None, boundary="periodic").double()):
        assert torch.allclose(op.residual(x, y), op.A(x) - y, atol=1e-12)


def test_last_fold_operator():
    from flowrestore.operators import LastFoldOperator

    first, last = Inpaint.centre(64, 64, 19), Inpaint.centre(64, 64, 16)
    op = LastFoldOperator(first, last)
    assert op.at_fold(0, 4) is first and op.at_fold(2, 4) is first and op.at_fold(3, 4) is last
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(op.measure_clean(x), last.measure_clean(x))


def test_blur_kernel_cropped_to_small_images(float64):
    op = Blur(5.0, kernel_size=None, boundary="periodic").double()
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
    with pytest.raises(ValueError, match="noise sigma"):
        TaskSpec("denoise", noise_sigma=1.0)
    with pytest.raises(ValueError, match="odd"):
        TaskSpec("deblur", blur_kernel=4)
    with pytest.raises(ValueError, match="boundary"):
        TaskSpec("deblur", blur_boundary="reflect")


def test_task_spec_records_the_blur_and_reads_old_records():
    spec = TaskSpec.default("deblur")
    assert (spec.blur_kernel, spec.blur_boundary, spec.kernel_size) == (5, "zero", 5)
    assert TaskSpec.from_dict(spec.to_dict()) == spec
    # a record written before the option existed describes the old 31x31 periodic blur
    old = TaskSpec.from_dict({"task": "deblur", "noise_sigma": 0.0, "box": 19, "blur_sigma": 5.0})
    assert (old.kernel_size, old.blur_boundary) == (31, "periodic")
    assert not old.same_operator(spec) and "31x31 periodic" in old.label()
    assert TaskSpec.from_dict({"task": "denoise", "noise_sigma": 0.2}) == TaskSpec.default("denoise")
    with pytest.raises(ValueError, match="unknown task field"):
        TaskSpec.from_dict({"task": "deblur", "kernel": 3})


@pytest.mark.parametrize("shape", SHAPES)
def test_blurs_are_separable_into_their_one_dimensional_factors(float64, shape):
    x = torch.rand(shape)
    for op in _operators(*shape[-2:]):
        factors = op.double().factors(*shape[-2:])
        if not isinstance(op, Blur):
            assert factors is None
            continue
        f_h, f_w = factors
        assert f_h.shape == (shape[-2],) * 2 and f_w.shape == (shape[-1],) * 2
        assert torch.allclose(op.A(x), f_h @ x @ f_w.T, atol=1e-12), op.boundary


def test_storage_rounding_counts_as_noise_in_quadrature():
    import math

    from flowrestore.operators import STORAGE_SIGMA, quantize_8bit, with_storage

    q = STORAGE_SIGMA["8bit"]
    assert math.isclose(q, 1 / 255 / math.sqrt(12))
    # the rounding error of an 8-bit file has about that standard deviation
    y = torch.rand(200_000, generator=torch.Generator().manual_seed(0))
    assert abs(float((quantize_8bit(y) - y).std()) / q - 1) < 0.01
    levels = with_storage(torch.tensor([0.0, 0.0, 0.05]), torch.tensor([False, True, True]))
    assert 0 < levels[0] < 1e-7 and math.isclose(float(levels[1]), q, rel_tol=1e-6)
    assert math.isclose(float(levels[2]), math.hypot(0.05, q), rel_tol=1e-6)
    assert float(with_storage(0.0, True)) == float(levels[1])
