"""Face mode: the framing measured on celeba64, detection in synthetic photos, crop and paste-back,
the measurement model at the prior's framing, and what stays untouched."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_fixtures import tiny_solver
from PIL import Image
from test_cli import fails
from typer.testing import CliRunner

from flowrestore.cli import app
from flowrestore.faces import Box, FaceOptions, Frame, box_of, face_task, frame_of, whole_image_frame
from flowrestore.faces import paste as pasting
from flowrestore.faces.framing import BOX_CENTRE, BOX_SIDE, FRAME
from flowrestore.imageio import ImageData
from flowrestore.operators import TaskSpec
from flowrestore.restore import restore_images

FACES = sorted((Path(__file__).resolve().parents[1] / "flowrestore" / "data" / "celeba").glob("*.png"))


def synthetic_photo(face: Path, size: int, left: int, top: int, height: int, width: int) -> torch.Tensor:
    """A bundled face scaled to `size` pixels, pasted at (left, top) on a smooth background."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    canvas = np.stack([0.45 + 0.2 * np.sin(xx / width * 3), 0.4 + 0.2 * np.cos(yy / height * 2),
                       0.5 + 0.1 * np.sin((xx + yy) / 50)], axis=-1)
    pixels = np.asarray(Image.open(face).convert("RGB").resize((size, size), Image.BICUBIC), np.float32) / 255
    canvas[top : top + size, left : left + size] = pixels
    return torch.from_numpy(canvas.astype(np.float32)).permute(2, 0, 1).contiguous()


def as_image(rgb: torch.Tensor) -> ImageData:
    return ImageData(rgb=rgb, alpha=None, bit_depth=8, mode="RGB", gray=False, source="photo")


def test_frame_and_box_are_inverse_and_the_training_box_gives_the_training_frame():
    frame = Frame(10.0, -4.0, 128.0)
    back = frame_of(box_of(frame))
    assert back.x == pytest.approx(frame.x) and back.y == pytest.approx(frame.y) and back.side == pytest.approx(128)
    training = frame_of(Box(BOX_CENTRE[0] - BOX_SIDE / 2, BOX_CENTRE[1] - BOX_SIDE / 2, BOX_SIDE, BOX_SIDE))
    assert (training.x, training.y, training.side) == pytest.approx((0.0, 0.0, FRAME))
    assert whole_image_frame(100, 60) == Frame(20.0, 0.0, 60.0)


def test_blend_weights_cover_the_box_and_vanish_at_the_frame_edge():
    side = 128
    weights = pasting.blend_weights(side)
    box = box_of(Frame(0.0, 0.0, float(side)))
    assert float(weights.min()) >= 0 and float(weights.max()) <= 1
    inner = weights[int(box.y) + 1 : int(box.y + box.height) - 1, int(box.x) + 1 : int(box.x + box.width) - 1]
    assert torch.equal(inner, torch.ones_like(inner))
    assert float(weights[0].max()) < 0.05 and float(weights[:, -1].max()) < 0.05
    assert torch.allclose(weights, weights.flip(-1), atol=1e-6)  # the box is centred across


def test_pasting_a_faces_own_crop_back_changes_nothing():
    image = torch.rand(1, 3, 90, 120, generator=torch.Generator().manual_seed(0))
    frame = Frame(30.0, 10.0, 64.0)  # the face at the prior's scale: crop and paste are exact
    face = pasting.crop(image, frame)
    assert face.shape == (1, 3, 64, 64)
    assert torch.allclose(pasting.paste(image, face, frame), image, atol=1e-6)


def test_a_frame_reaching_past_the_edge_is_cropped_with_replicated_pixels_and_pasted_inside():
    image = torch.rand(1, 3, 50, 50, generator=torch.Generator().manual_seed(1))
    frame = Frame(-20.0, 10.0, 64.0)
    face = pasting.crop(image, frame)
    assert torch.equal(face[..., 0, :20], image[..., 10, 0:1].expand(-1, -1, 20))  # left of the image
    out = pasting.paste(image, torch.zeros_like(face), frame)
    assert out.shape == image.shape and float(out[..., 30, 10].max()) < float(image[..., 30, 10].max()) + 1e-6


def test_area_averaging_divides_iid_noise_by_the_scale():
    noise = 0.2 * torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(2))
    assert float(pasting.resample(noise, 64).std()) == pytest.approx(0.2 / 4, rel=0.05)


def test_the_measurement_model_follows_the_faces_scale():
    denoise, deblur, inpaint = TaskSpec.default("denoise"), TaskSpec.default("deblur"), TaskSpec.default("inpaint")
    assert face_task(denoise, 2.5).noise_sigma == pytest.approx(0.08)
    assert face_task(denoise, 0.5).noise_sigma == pytest.approx(0.2)  # upsampling averages nothing
    assert face_task(deblur, 2.0).blur_sigma == pytest.approx(2.5)
    assert face_task(inpaint, 3.0) == inpaint
    with pytest.raises(ValueError, match="face mode must be one of"):
        FaceOptions(mode="faces")


@pytest.mark.parametrize(("size", "left", "top"), [(96, 20, 40), (160, 150, 30), (128, 0, 60)])
def test_faces_are_found_where_they_were_pasted(size, left, top):
    pytest.importorskip("cv2")
    from flowrestore.faces.detect import find_faces

    rgb = synthetic_photo(FACES[0], size, left, top, 300, 340)
    pixels = (rgb * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    boxes = find_faces(pixels)
    assert len(boxes) == 1
    frame = frame_of(boxes[0])
    assert abs(frame.x - left) < 0.15 * size and abs(frame.y - top) < 0.15 * size
    assert abs(frame.side - size) < 0.2 * size
    assert find_faces(np.full((200, 200, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("task", ["denoise", "inpaint", "deblur"])
def test_only_faces_leaves_everything_outside_the_faces_as_measured(task):
    pytest.importorskip("cv2")
    left, top, size = 60, 40, 128
    rgb = synthetic_photo(FACES[1], size, left, top, 240, 260)
    model = tiny_solver(task)
    spec = TaskSpec.default(task)
    result = restore_images(model, [as_image(rgb)], spec, degrade=True, seeds=[0],
                            faces=FaceOptions(mode="detect", only_faces=True))[0]
    assert len(result.faces) == 1
    left_f, top_f, side = result.faces[0].frame.rounded()
    outside = torch.ones(rgb.shape[-2:], dtype=torch.bool)
    outside[max(top_f, 0) : top_f + side, max(left_f, 0) : left_f + side] = False
    restored, measured = result.image.rgb, result.measurement.clamp(0, 1)
    assert torch.equal(restored[:, outside], measured[:, outside])
    assert not torch.equal(restored[:, ~outside], measured[:, ~outside])


def test_face_mode_keeps_observed_pixels_of_an_inpainting_problem():
    pytest.importorskip("cv2")
    rgb = synthetic_photo(FACES[2], 128, 50, 50, 240, 240)
    result = restore_images(tiny_solver("inpaint"), [as_image(rgb)], replace(TaskSpec.default("inpaint"), box=40),
                            degrade=True, seeds=[0], faces=FaceOptions(mode="detect"))[0]
    assert len(result.faces) == 1
    observed = torch.ones(240, 240, dtype=torch.bool)
    observed[100:140, 100:140] = False
    assert torch.allclose(result.image.rgb[:, observed], rgb[:, observed], atol=1 / 255)


def test_aligned_restores_the_whole_image_as_one_face_and_off_ignores_faces():
    rgb = torch.from_numpy(np.asarray(Image.open(FACES[3]).convert("RGB"), np.float32) / 255).permute(2, 0, 1)
    model = tiny_solver("denoise")
    aligned = restore_images(model, [as_image(rgb.contiguous())], TaskSpec.default("denoise"), degrade=True,
                             seeds=[0], faces=FaceOptions(mode="aligned"))[0]
    plain = restore_images(model, [as_image(rgb.contiguous())], TaskSpec.default("denoise"), degrade=True,
                           seeds=[0], faces=FaceOptions(mode="off"))[0]
    assert len(aligned.faces) == 1 and plain.faces == ()
    assert torch.allclose(aligned.image.rgb, plain.image.rgb, atol=1e-5)  # a 64x64 face is its own frame


def test_finding_faces_without_opencv_names_the_extra(monkeypatch):
    import builtins

    from flowrestore.errors import FaceDetectorError
    from flowrestore.faces import detect

    real_import = builtins.__import__

    def no_cv2(name, *args, **kwargs):
        if name == "cv2":
            raise ImportError("No module named 'cv2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cv2)
    with pytest.raises(FaceDetectorError, match=r"flowrestore\[faces\]"):
        detect.find_faces(np.zeros((64, 64, 3), np.uint8))
    assert detect.available() is False


def _photo_file(tmp_path: Path, name: str = "photo.png", with_face: bool = True) -> Path:
    rgb = synthetic_photo(FACES[0], 128, 70, 40, 240, 280)
    if not with_face:
        rgb = synthetic_photo(FACES[0], 1, 0, 0, 240, 280)
    pixels = (rgb.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / name)
    return tmp_path / name


def _restore(checkpoint_dir, *args):
    args = ["restore", *map(str, args), "--checkpoint", str(checkpoint_dir / "tiny-denoise.safetensors"),
            "--device", "cpu"]
    return CliRunner().invoke(app, args)


def test_restore_faces_names_each_face_draws_frames_and_reports_them_in_json(tmp_path, checkpoint_dir):
    pytest.importorskip("cv2")
    photo = _photo_file(tmp_path)
    done = _restore(checkpoint_dir, photo, "--faces", "--show-faces", "--degrade", "--json")
    assert done.exit_code == 0, done.output
    (line,) = [line for line in done.stderr.splitlines() if "photo.png: face 1 at" in line]
    scale = float(line.split("(x")[1].split()[0])
    assert 1.6 < scale < 2.4  # a 128-pixel face in the prior's 64-pixel frame
    figure = tmp_path / "photo_faces.png"
    assert figure.exists() and (tmp_path / "photo_restored.png").exists()
    drawn = np.asarray(Image.open(figure))
    assert drawn.shape == (240, 280, 3) and (drawn == [26, 230, 51]).all(-1).any()  # the frame's green
    (row,) = json.loads(done.stdout)["images"]
    (face,) = row["faces"]
    assert abs(face["frame"][2] - 128) < 0.2 * 128 and "bits_per_dim" in face


def test_restore_faces_on_a_photo_without_faces_restores_it_whole(tmp_path, checkpoint_dir):
    pytest.importorskip("cv2")
    done = _restore(checkpoint_dir, _photo_file(tmp_path, with_face=False), "--faces")
    assert done.exit_code == 0, done.output
    assert "no face found; restored as a whole" in done.stderr


@pytest.mark.parametrize(
    ("options", "words"),
    [(["--only-faces"], ["--only-faces", "--faces"]), (["--show-faces"], ["--show-faces", "--aligned"]),
     (["--faces", "--aligned"], ["not both"])],
)
def test_face_options_that_contradict_are_one_line_errors(tmp_path, checkpoint_dir, options, words):
    photo = _photo_file(tmp_path)
    fails(_restore(checkpoint_dir, photo, *options), *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_restore_faces_without_opencv_is_a_one_line_error(tmp_path, checkpoint_dir, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    photo = _photo_file(tmp_path)
    fails(_restore(checkpoint_dir, photo, "--faces"), "OpenCV", "flowrestore[faces]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]
