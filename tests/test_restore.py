"""The restore data path: padding to the model's multiple, masks, batching, degrade mode and scores."""

import math

import numpy as np
import pytest
import torch
from cli_fixtures import tiny_solver

from flowrestore.errors import MaskSizeError
from flowrestore.imageio import ImageData
from flowrestore.metrics import psnr
from flowrestore.operators import TaskSpec, centre_box_mask
from flowrestore.restore import crop, pad, padding, restore_images, side_by_side, simulate, solve


@pytest.fixture(scope="module")
def model():
    return tiny_solver()


def _image(h, w, gray=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(1 if gray else 3, h, w, generator=g).expand(3, h, w).contiguous()
    return ImageData(rgb=rgb, alpha=None, bit_depth=8, mode="L" if gray else "RGB", gray=gray, source=f"img{seed}.png")


@pytest.mark.parametrize("h, w, m", [(8, 8, 4), (9, 13, 4), (5, 3, 8), (64, 64, 8)])
def test_padding_reaches_the_next_multiple_and_crop_undoes_it(h, w, m):
    pads = padding(h, w, m)
    left, right, top, bottom = pads
    assert (h + top + bottom) % m == 0 and (w + left + right) % m == 0
    assert 0 <= top <= bottom <= top + 1 and 0 <= left <= right <= left + 1
    x = torch.rand(2, 3, h, w)
    assert torch.equal(crop(pad(x, pads), pads), x)


def test_reflect_padding_mirrors_the_edge():
    x = torch.arange(6.0).reshape(1, 1, 1, 6).expand(1, 1, 6, 6)
    padded = pad(x, (1, 1, 0, 0))
    assert padded[0, 0, 0].tolist() == [1, 0, 1, 2, 3, 4, 5, 4]


@pytest.mark.parametrize("task", ["denoise", "inpaint", "deblur"])
def test_any_size_comes_back_at_its_size_in_range(model, task):
    y = torch.rand(2, 3, 9, 14)
    x_hat = solve(model, y, TaskSpec(task, box=3))
    assert x_hat.shape == y.shape and 0 <= float(x_hat.min()) and float(x_hat.max()) <= 1


def test_inpainting_ignores_what_the_file_holds_in_the_hole(model):
    task = TaskSpec("inpaint", box=3)
    y = torch.rand(1, 3, 10, 10)
    hole = centre_box_mask(10, 10, 3) == 0
    scribbled = torch.where(hole, torch.rand_like(y), y)
    assert torch.allclose(solve(model, y, task), solve(model, scribbled, task), atol=1e-6)


def test_user_mask_of_another_size_is_refused_naming_the_image(model):
    mask = torch.ones(8, 8)
    with pytest.raises(MaskSizeError, match=r"mask is 8x8 but img0.png is 12x10"):
        restore_images(model, [_image(10, 12)], TaskSpec("inpaint"), mask)


def test_results_do_not_depend_on_batching_and_keep_the_input_order(model):
    images = [_image(8, 8, seed=0), _image(12, 8, seed=1), _image(8, 8, seed=2), _image(8, 8, gray=True, seed=3)]
    task = TaskSpec.default("denoise")
    one = restore_images(model, images, task, degrade=True, seeds=[5, 6, 7, 8], batch_size=1)
    many = restore_images(model, images, task, degrade=True, seeds=[5, 6, 7, 8], batch_size=8)
    for a, b, image in zip(one, many, images):
        assert a.image.rgb.shape == image.rgb.shape
        assert torch.allclose(a.image.rgb, b.image.rgb, atol=1e-5)
        assert torch.equal(a.measurement, b.measurement)


def test_degrade_is_reproducible_per_seed_and_scores_against_the_input(model):
    image = _image(8, 8)
    task = TaskSpec("denoise", noise_sigma=0.1)
    first, again, other = (restore_images(model, [image], task, degrade=True, seeds=[s])[0] for s in (3, 3, 4))
    assert torch.equal(first.measurement, again.measurement)
    assert not torch.equal(first.measurement, other.measurement)
    assert math.isclose(first.psnr, psnr(first.image.rgb, image.rgb), rel_tol=1e-9)
    assert first.ssim is None or -1 <= first.ssim <= 1
    noise = (first.measurement - image.rgb).std()
    assert 0.08 < float(noise) < 0.12


def test_gray_images_are_measured_on_one_channel(model):
    image = _image(8, 8, gray=True)
    (result,) = restore_images(model, [image], TaskSpec("denoise", noise_sigma=0.1), degrade=True)
    y = result.measurement
    assert torch.equal(y[0], y[1]) and torch.equal(y[1], y[2])
    assert torch.equal(result.image.stored_channels(), result.image.rgb.mean(0, keepdim=True))


def test_a_box_larger_than_the_image_is_refused(model):
    with pytest.raises(ValueError, match="19x19 inpainting box does not fit img0.png"):
        restore_images(model, [_image(8, 8)], TaskSpec("inpaint", box=19))


def test_simulated_inpainting_is_grey_in_the_hole():
    x = torch.rand(2, 3, 8, 8) * 0.4
    y = simulate(x, TaskSpec("inpaint", box=2), None, [0, 1])
    assert (y[..., 3:5, 3:5] == 0.5).all() and torch.allclose(y[..., :3, :], x[..., :3, :], atol=1e-7)


def test_comparison_is_measurement_restored_reference_side_by_side(model):
    (result,) = restore_images(model, [_image(8, 8)], TaskSpec.default("deblur"), degrade=True, compare=True)
    assert result.comparison.shape == (3, 8, 3 * 8 + 2 * 2)
    (plain,) = restore_images(model, [_image(8, 8)], TaskSpec.default("deblur"), compare=True)
    assert plain.comparison.shape == (3, 8, 2 * 8 + 2) and plain.psnr is None


def test_progress_reports_every_batch(model):
    calls = []
    images = [_image(8, 8, seed=s) for s in range(5)]
    restore_images(model, images, TaskSpec.default("denoise"), batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_side_by_side_clips_and_separates_panels():
    figure = side_by_side([torch.full((3, 2, 2), 2.0), torch.full((3, 2, 3), -1.0)], gap=1)
    assert figure.shape == (3, 2, 6)
    assert figure[:, :, :2].eq(1).all() and figure[:, :, 2].eq(1).all() and figure[:, :, 3:].eq(0).all()


def test_restore_files_returns_one_result_per_file_and_notes_as_data(tmp_path, checkpoint_dir):
    from cli_fixtures import rgb_array, write_image

    from flowrestore.restore_files import RestoreOptions, restore_files

    sources = [write_image(tmp_path / f"{n}.png", rgb_array(8, 8, seed=i)) for i, n in enumerate("ab")]
    calls = []
    options = RestoreOptions(
        inputs=tuple(str(s) for s in sources), checkpoint=str(checkpoint_dir / "tiny-deblur.safetensors"),
        blur_kernel=0, blur_boundary="periodic", device="cpu", degrade=True, output=tmp_path / "out",
    )
    run = restore_files(options, progress=lambda done, total, images: calls.append((done, total, images)))
    assert [f.input for f in run.files] == sources and all(f.output.is_file() for f in run.files)
    assert all(f.restoration.psnr is not None and f.comparison is None for f in run.files)
    assert run.task.task == "deblur" and run.device.type == "cpu" and run.seconds >= 0
    assert calls[-1] == (2, 2, 2)
    (warning,) = run.notes  # the operator is not the one the checkpoint was trained for
    assert warning.startswith("warning: ") and "outside its training" in warning


def test_ssim_in_strips_is_the_whole_images_ssim():
    pytest.importorskip("skimage")
    from flowrestore import metrics

    generator = np.random.default_rng(0)
    clean = generator.random((3, 150, 90))
    noisy = np.clip(clean + 0.1 * generator.standard_normal(clean.shape), 0, 1)
    whole = metrics.ssim(noisy, clean)
    options = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    for rows in (7, 40, 64, 1000):
        strips = metrics._ssim_in_strips(np.moveaxis(noisy, 0, -1), np.moveaxis(clean, 0, -1), options, rows)
        assert strips == pytest.approx(whole, abs=1e-9)


def test_chunks_hold_at_most_four_batches_and_a_pixel_budget():
    from flowrestore.file_chunks import InputLayout, plan_chunks

    face, photo, huge = InputLayout(64, 64, ()), InputLayout(3000, 4000, ()), InputLayout(5000, 6000, ())
    assert [len(chunk) for chunk in plan_chunks([face] * 10, 2)] == [8, 2]
    assert plan_chunks([face, photo, photo, face], 8) == [[0, 1], [2, 3]]  # 12 MP each: two fill 16 MP
    assert plan_chunks([face, huge, face], 8) == [[0], [1], [2]]  # above the budget: alone
    tiled = lambda layout: layout.height > 512  # noqa: E731
    assert plan_chunks([face, InputLayout(1024, 1024, ()), face, face], 8, tiled) == [[0], [1], [2, 3]]
