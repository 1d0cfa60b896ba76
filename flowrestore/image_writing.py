"""Tensors back to image files: each restored image in its input's layout (gray, RGB, alpha) and
bit depth, and figures as 8-bit RGB. Every write is atomic and refuses to overwrite unless asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from flowrestore.errors import ImageWriteError
from flowrestore.files import atomic_write
from flowrestore.imageio import EIGHT_BIT_ONLY, FORMATS, NO_ALPHA, ImageData, _one_line


def _quantise(values: Tensor, bit_depth: int) -> np.ndarray:
    top = 65535 if bit_depth == 16 else 255
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    return np.round(values.clamp(0, 1).numpy() * top).astype(dtype)


def check_writable(path: Path, image: ImageData) -> str:
    """The file format for `path`, if it can hold `image`; else ImageWriteError."""
    file_format = output_format(Path(path))
    if image.alpha is not None and file_format in NO_ALPHA:
        raise ImageWriteError(
            f"{file_format} cannot store the transparency of {image.source or 'this image'}; "
            "write a .png, .webp or .tif instead"
        )
    return file_format


def to_pil(image: ImageData, file_format: str = "PNG") -> Image.Image:
    """The Pillow image to write for `image` in `file_format`, in the image's own layout."""
    bit_depth = 8 if file_format in EIGHT_BIT_ONLY else image.bit_depth
    colour = image.stored_channels().permute(1, 2, 0)  # (H, W, 1 | 3)
    if image.alpha is not None:
        colour = torch.cat([colour, image.alpha[..., None]], dim=-1)
    pixels = _quantise(colour, bit_depth)
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]  # Pillow: (H, W) uint8 -> "L", uint16 -> "I;16"
    return Image.fromarray(pixels)


def output_format(path: Path) -> str:
    file_format = FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise ImageWriteError(f"cannot write {path}: use a .png, .jpg, .webp or .tif file name")
    return file_format


def write_pil(
    path: str | Path, picture: Image.Image, overwrite: bool = False, icc_profile: bytes | None = None
) -> None:
    """Write a Pillow image atomically; the format follows the file name's suffix."""
    path = Path(path)
    file_format = output_format(path)
    if path.exists() and not overwrite:
        raise ImageWriteError(f"{path} already exists; pass --force to overwrite it or choose another --output")
    # WebP is written losslessly: a restored image should not gain new compression artefacts.
    options: dict = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}.get(file_format, {})
    if icc_profile:
        options["icc_profile"] = icc_profile
    try:
        atomic_write(path, lambda tmp: picture.save(tmp, format=file_format, **options), exclusive=not overwrite)
    except FileExistsError as e:
        raise ImageWriteError(
            f"{path} already exists (it appeared while this run was working); pass --force to overwrite it "
            "or choose another --output"
        ) from e
    except OSError as e:
        raise ImageWriteError(f"cannot write {path} ({_one_line(e)}); choose a writable --output") from e


def write_image(path: str | Path, image: ImageData, overwrite: bool = False) -> None:
    """Write `image` back with its channel layout (gray, RGB, alpha) and bit depth.

    JPEG and WebP hold 8 bits only, so 16-bit images are written to them at 8 bits;
    JPEG holds no alpha, so an image with alpha cannot be written to a .jpg. JPEG is written
    at quality 95, WebP losslessly.
    """
    path = Path(path)
    write_pil(path, to_pil(image, check_writable(path, image)), overwrite=overwrite, icc_profile=image.icc_profile)


def write_rgb(path: str | Path, rgb: Tensor, overwrite: bool = False) -> None:
    """Write a (3, H, W) tensor in [0, 1] as an 8-bit RGB file (comparison figures)."""
    write_pil(path, Image.fromarray(_quantise(rgb.detach().float().cpu().permute(1, 2, 0), 8)), overwrite)
