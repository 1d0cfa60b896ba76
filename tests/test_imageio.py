"""Image files in and out: layouts, bit depths and alpha survive a round trip; bad files are clear errors."""

import numpy as np
import pytest
import torch
from cli_fixtures import bomb_png, rgb_array, write_image
from PIL import Image

from flowrestore.errors import (
    DecompressionBombError,
    FlowrestoreError,
    ImageNotFoundError,
    ImageUnreadableError,
    ImageWriteError,
    NotAnImageError,
    TruncatedImageError,
)
from flowrestore.image_writing import write_image as save
from flowrestore.image_writing import write_rgb
from flowrestore.imageio import read_image, read_mask


def _round_trip(tmp_path, name, array, **save_options):
    source = write_image(tmp_path / name, array, **save_options)
    image = read_image(source)
    target = tmp_path / f"out{source.suffix}"
    save(target, image.with_rgb(image.rgb))
    return image, Image.open(source), Image.open(target)


@pytest.mark.parametrize(
    "name, array",
    [
        ("gray.png", rgb_array()[..., 0]),
        ("rgb.png", rgb_array()),
        ("rgba.png", np.dstack([rgb_array(), np.arange(144, dtype=np.uint8).reshape(12, 12)])),
        ("gray_alpha.png", np.dstack([rgb_array()[..., 0], np.full((12, 12), 7, np.uint8)])),
        ("gray16.png", (np.arange(144, dtype=np.uint16).reshape(12, 12) * 451)),
        ("gray16.tif", (np.arange(144, dtype=np.uint16).reshape(12, 12) * 451)),
        ("rgb.tif", rgb_array()),
        ("rgba.webp", np.dstack([rgb_array(), np.full((12, 12), 200, np.uint8)])),
    ],
)
def test_lossless_formats_round_trip_exactly(tmp_path, name, array):
    image, before, after = _round_trip(tmp_path, name, array, **({"lossless": True} if name.endswith("webp") else {}))
    assert image.rgb.shape == (3, 12, 12) and image.rgb.dtype == torch.float32
    assert 0 <= float(image.rgb.min()) and float(image.rgb.max()) <= 1
    assert after.mode == before.mode and after.size == before.size
    assert np.array_equal(np.asarray(after), np.asarray(before))


def test_layout_bit_depth_and_alpha_are_reported(tmp_path):
    gray16 = read_image(write_image(tmp_path / "g.png", np.full((4, 8), 40000, np.uint16)))
    assert (gray16.gray, gray16.bit_depth, gray16.alpha) == (True, 16, None)
    assert gray16.rgb.shape == (3, 4, 8) and torch.allclose(gray16.rgb, torch.full((3, 4, 8), 40000 / 65535))
    rgba = read_image(write_image(tmp_path / "a.png", np.dstack([rgb_array(4, 8), np.full((4, 8), 51, np.uint8)])))
    assert (rgba.gray, rgba.bit_depth, rgba.mode) == (False, 8, "RGBA")
    assert rgba.alpha.shape == (4, 8) and torch.allclose(rgba.alpha, torch.full((4, 8), 0.2))


def test_gray_is_written_back_as_the_channel_mean(tmp_path):
    image = read_image(write_image(tmp_path / "g.png", np.zeros((4, 4), np.uint8)))
    rgb = torch.stack([torch.full((4, 4), v) for v in (0.0, 0.5, 1.0)])
    save(tmp_path / "o.png", image.with_rgb(rgb))
    written = Image.open(tmp_path / "o.png")
    assert written.mode == "L" and np.all(np.asarray(written) == 128)


def test_jpeg_reads_and_writes_rgb(tmp_path):
    image, before, after = _round_trip(tmp_path, "photo.jpg", rgb_array(16, 16), quality=95)
    assert after.format == "JPEG" and after.mode == "RGB" and after.size == (16, 16)
    assert np.abs(np.asarray(after, float) - np.asarray(before, float)).mean() < 3


def test_sixteen_bit_image_to_jpeg_is_written_at_eight_bits(tmp_path):
    image = read_image(write_image(tmp_path / "g.png", np.full((4, 4), 65535, np.uint16)))
    save(tmp_path / "o.jpg", image)
    assert Image.open(tmp_path / "o.jpg").mode == "L"


def test_alpha_cannot_go_to_jpeg(tmp_path):
    image = read_image(write_image(tmp_path / "a.png", np.zeros((4, 4, 4), np.uint8)))
    with pytest.raises(ImageWriteError, match="JPEG cannot store the transparency"):
        save(tmp_path / "o.jpg", image)


def test_existing_files_are_kept_unless_overwrite(tmp_path):
    image = read_image(write_image(tmp_path / "a.png", rgb_array(4, 4)))
    target = write_image(tmp_path / "o.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(ImageWriteError, match="already exists; pass --force"):
        save(target, image)
    assert Image.open(target).size == (2, 2)
    save(target, image, overwrite=True)
    assert Image.open(target).size == (4, 4)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def test_comparison_writer_makes_an_eight_bit_rgb_png(tmp_path):
    write_rgb(tmp_path / "c.png", torch.rand(3, 5, 9))
    figure = Image.open(tmp_path / "c.png")
    assert (figure.format, figure.mode, figure.size) == ("PNG", "RGB", (9, 5))


def test_mask_white_is_observed(tmp_path):
    array = np.full((6, 6), 255, np.uint8)
    array[2:4, 1:5] = 0
    mask = read_mask(write_image(tmp_path / "m.png", array))
    assert mask.shape == (6, 6) and mask.sum() == 36 - 8 and mask[2, 1] == 0


def _truncated(tmp_path):
    write_image(tmp_path / "full.png", rgb_array(64, 64))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    return tmp_path / "cut.png"


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda d: d / "nope.png", ImageNotFoundError, "no such file"),
        (lambda d: (d / "notes.png").write_text("hello") and d / "notes.png", NotAnImageError, "not an image"),
        (_truncated, TruncatedImageError, "truncated or corrupt"),
        (lambda d: bomb_png(d / "bomb.png"), DecompressionBombError, "too large to decode safely"),
        (lambda d: write_image(d / "f.tif", np.zeros((4, 4), np.float32)), ImageUnreadableError, "32-bit float"),
        (lambda d: write_image(d / "a.gif", np.zeros((4, 4), np.uint8)), NotAnImageError, "GIF"),
    ],
)
def test_bad_inputs_are_one_line_errors_naming_the_file(tmp_path, make, error, words):
    path = make(tmp_path)
    with pytest.raises(error) as caught:
        read_image(path)
    message = str(caught.value)
    assert isinstance(caught.value, FlowrestoreError)
    assert words in message and path.name in message and "\n" not in message
