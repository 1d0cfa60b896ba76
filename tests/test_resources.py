"""Limits of one restore: the pixel limit and running out of memory, each a one-line error."""

import numpy as np
import pytest
import torch
from cli_fixtures import write_image
from typer.testing import CliRunner

from flowrestore.cli import app
from flowrestore.cli.errors import user_message
from flowrestore.errors import ImageTooLargeError, OutOfMemoryError
from flowrestore.imageio import ImageData
from flowrestore.operators import TaskSpec
from flowrestore.resources import check_pixels, is_out_of_memory, memory_errors
from flowrestore.restore import restore_images
from flowrestore.tiling import Tiling

ALLOCATOR = "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 bytes"


class RunsOutOfMemory(torch.nn.Module):
    """A stand-in solver whose every call fails as PyTorch's CPU allocator does."""

    size_multiple = 4

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, y, operator):
        raise RuntimeError(ALLOCATOR)


def test_the_pixel_limit_names_the_image_and_the_fix():
    check_pixels(100, 100, limit=10_000)
    with pytest.raises(ImageTooLargeError, match=r"big.png is 200x100 = 0 megapixels.*downscale it"):
        check_pixels(200, 100, "big.png", limit=10_000)


@pytest.mark.parametrize(
    "error, expected",
    [
        (MemoryError(), True),
        (RuntimeError(ALLOCATOR), True),
        (RuntimeError("size mismatch"), False),
        (type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory"), False),  # the GPU's, left to the CLI
    ],
)
def test_running_out_of_cpu_memory_is_recognised(error, expected):
    assert is_out_of_memory(error) is expected


def test_memory_errors_become_one_line_with_the_remedy_and_others_pass():
    with pytest.raises(OutOfMemoryError, match="^out of memory restoring x; lower --tile$"):
        with memory_errors("restoring x", "lower --tile"):
            raise RuntimeError(ALLOCATOR)
    with pytest.raises(RuntimeError, match="size mismatch"):
        with memory_errors("restoring x", "lower --tile"):
            raise RuntimeError("size mismatch")


def test_restore_images_out_of_memory_names_the_image_and_the_tile():
    image = ImageData(rgb=torch.rand(3, 40, 40), alpha=None, bit_depth=8, mode="RGB", gray=False, source="p.png")
    with pytest.raises(OutOfMemoryError, match=r"restoring p.png \(40x40\); lower --tile \(now 32\)"):
        restore_images(RunsOutOfMemory(), [image], TaskSpec("denoise"), tiling=Tiling(tile=32, pad=4))


def test_the_cli_boundary_shows_memory_errors_in_one_line():
    assert user_message(MemoryError()).startswith("out of memory; close other programs")
    assert user_message(OutOfMemoryError("out of memory restoring p.png; lower --tile")) == (
        "out of memory restoring p.png; lower --tile"
    )


def test_cli_restores_in_tiles_and_refuses_a_tile_too_small(tmp_path, checkpoint_dir):
    rng = np.random.default_rng(0)
    source = write_image(tmp_path / "wide.png", (rng.random((40, 72, 3)) * 255).astype(np.uint8))
    tiny = str(checkpoint_dir / "tiny-denoise.safetensors")
    args = ["restore", str(source), "--checkpoint", tiny, "--device", "cpu"]
    done = CliRunner().invoke(app, [*args, "--tile", "32", "--tile-pad", "4"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "wide_restored.png").exists()
    done = CliRunner().invoke(app, [*args, "--tile", "16", "--tile-pad", "8", "--force"])
    assert done.exit_code == 1 and "Traceback" not in done.output
    assert done.stderr.strip().splitlines()[-1].startswith("error: a 16-pixel tile leaves nothing")


def test_cli_refuses_an_image_over_the_pixel_limit_before_decoding_it(tmp_path, checkpoint_dir):
    from cli_fixtures import bomb_png

    source = bomb_png(tmp_path / "huge.png", side=8000)  # 64 megapixels; Pillow alone would accept it
    tiny = str(checkpoint_dir / "tiny-denoise.safetensors")
    done = CliRunner().invoke(app, ["restore", str(source), "--checkpoint", tiny, "--device", "cpu"])
    assert done.exit_code == 1 and "Traceback" not in done.output
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"error: {source} is 8000x8000 = 64 megapixels, more than the 50 megapixels"
    )
