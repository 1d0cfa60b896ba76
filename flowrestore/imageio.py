"""Image files to tensors, for `restore` (the benchmark and training read their folders themselves);
flowrestore.image_writing writes them back.

Reads PNG, JPEG, WebP and TIFF in grayscale, RGB or with alpha, at 8 or 16 bits per
channel. The shipped models are RGB, so every image becomes a (3, H, W) float tensor in
[0, 1]: gray is replicated to three channels, alpha is kept aside, and writing puts both
back (gray as the channel mean, alpha unchanged) at the file's bit depth.

Limits of Pillow that show through: 16-bit colour PNGs are decoded to 8 bits per channel
(and 16-bit gray with alpha to 8-bit RGBA), so they come back as 8-bit files, with a note;
palette images come back as RGB(A). EXIF orientation is applied on reading, so outputs are
upright and carry no orientation tag; the ICC profile is kept. Files holding several frames
(multi-page TIFF, animated PNG or WebP) are refused, since only one frame could be written
back; a camera JPEG's extra frames (MPO previews) are dropped with a note.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from flowrestore.errors import (
    DecompressionBombError,
    ImageNotFoundError,
    ImageReadError,
    ImageUnreadableError,
    NotAnImageError,
    TruncatedImageError,
)

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
READABLE = {"PNG", "JPEG", "MPO", "WEBP", "TIFF"}  # MPO: a JPEG with extra frames (many cameras)
DATASET_FORMATS = READABLE | {"BMP"}  # training and benchmark folders also take BMP
SHOWN_ERRORS = 5  # unreadable files named in one message
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
GRAY_MODES = {"1", "L", "LA", "La"} | SIXTEEN_BIT_MODES
NO_ALPHA = {"JPEG"}
EIGHT_BIT_ONLY = {"JPEG", "WEBP"}


@dataclass(frozen=True)
class ImageData:
    """An image as the models see it, plus what is needed to write it back as it came."""

    rgb: Tensor  # (3, H, W) float32 in [0, 1]; gray images replicated to 3 channels
    alpha: Tensor | None  # (H, W) float32 in [0, 1], or None
    bit_depth: int  # 8 or 16 bits per channel
    mode: str  # the Pillow mode of the file, e.g. "L", "RGBA", "I;16"
    gray: bool  # stored with one colour channel
    source: str = ""  # where it came from, for messages
    icc_profile: bytes | None = None
    notes: tuple[str, ...] = ()  # what reading changed (16-bit colour to 8-bit, CMYK to RGB)

    @property
    def height(self) -> int:
        return self.rgb.shape[1]

    @property
    def width(self) -> int:
        return self.rgb.shape[2]

    def with_rgb(self, rgb: Tensor) -> "ImageData":
        """The same file layout around new colour values (3, H, W)."""
        assert rgb.shape == self.rgb.shape, (rgb.shape, self.rgb.shape)
        return replace(self, rgb=rgb.detach().float().cpu().clamp(0, 1))

    def stored_channels(self) -> Tensor:
        """The colour channels as they will be written: (1, H, W) for gray, else (3, H, W)."""
        return as_stored(self.rgb, self.gray)


def as_stored(rgb: Tensor, gray: bool) -> Tensor:
    """(3, H, W) -> the file's colour layout; gray is the channel mean (the inverse of replication)."""
    return rgb.mean(dim=0, keepdim=True) if gray else rgb


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _open(path: Path, formats: set[str] = READABLE) -> tuple[Image.Image, bool]:
    """Open and fully decode `path`, turning every failure into a FlowrestoreError.

    Returns the image and whether it is a 16-bit colour file that Pillow decoded to 8 bits.
    """
    if not path.exists():
        raise ImageNotFoundError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise ImageUnreadableError(f"{path} is a folder, not an image; give the files inside it")
    with warnings.catch_warnings():
        # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both mean "too big".
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise DecompressionBombError(
                f"{path} is too large to decode safely ({_one_line(e)}); downscale it first"
            ) from e
        except UnidentifiedImageError as e:
            raise NotAnImageError(
                f"{path} is not an image Pillow can read; give a PNG, JPEG, WebP or TIFF file"
            ) from e
        except OSError as e:
            raise ImageUnreadableError(f"cannot read {path} ({_one_line(e)}); check its permissions") from e
        if image.format not in formats:
            raise NotAnImageError(f"{path} is a {image.format} image; convert it to PNG, JPEG, WebP or TIFF")
        frames = getattr(image, "n_frames", 1)
        if frames > 1 and image.format != "MPO":
            raise ImageUnreadableError(
                f"{path} holds {frames} frames (pages) and only one could be restored; "
                "save each frame as its own file first"
            )
        # Read before decoding: load() empties `tile`, which tells 16-bit colour files apart.
        deep_colour = image.mode in ("RGB", "RGBA") and _sixteen_bit_colour(image)
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise TruncatedImageError(
                f"{path} is truncated or corrupt ({_one_line(e)}); re-export or re-download it"
            ) from e
    return image, deep_colour


def _sixteen_bit_colour(image: Image.Image) -> bool:
    return any(";16" in str(tile.args) for tile in getattr(image, "tile", []) or [])


def read_image(path: str | Path) -> ImageData:
    """Read an image file into an ImageData (rgb (3, H, W) in [0, 1], alpha aside)."""
    path = Path(path)
    image, deep_colour = _open(path)
    notes: list[str] = []
    if deep_colour:
        notes.append("16-bit colour is decoded to 8 bits by Pillow; the output is 8-bit")
    if image.format == "MPO" and getattr(image, "n_frames", 1) > 1:
        notes.append(f"only the first of its {image.n_frames} frames is read (the others are camera previews)")
    icc = image.info.get("icc_profile")
    image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA" if mode == "PA" or "transparency" in image.info else "RGB")
    elif mode not in GRAY_MODES | {"RGB", "RGBA", "RGBa"}:
        if mode == "F":
            raise ImageUnreadableError(f"{path} holds 32-bit float pixels; save it as an 8- or 16-bit image")
        notes.append(f"converted from {mode} to RGB")
        image = image.convert("RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode in ("La", "RGBa"):  # premultiplied alpha
        image = image.convert(mode.upper())

    gray = image.mode in GRAY_MODES
    bit_depth = 16 if image.mode in SIXTEEN_BIT_MODES else 8
    pixels = np.asarray(image)
    if image.mode == "I":  # 32-bit integer container (some 16-bit files); keep the 16-bit range
        pixels = np.clip(pixels, 0, 65535)
    values = torch.from_numpy(pixels.astype(np.float32) / (65535.0 if bit_depth == 16 else 255.0))
    if values.dim() == 2:
        values = values[..., None]  # (H, W, 1)
    has_alpha = image.mode in ("LA", "RGBA")
    colour, alpha = (values[..., :-1], values[..., -1]) if has_alpha else (values, None)
    rgb = colour.permute(2, 0, 1).expand(3, -1, -1).contiguous()  # (3, H, W)
    return ImageData(
        rgb=rgb,
        alpha=alpha.contiguous() if alpha is not None else None,
        bit_depth=bit_depth,
        mode=mode,
        gray=gray,
        source=str(path),
        icc_profile=icc,
        notes=tuple(notes),
    )


def read_each(paths: list[Path], read) -> list:
    """`read(path)` for every path; if any fail, one ImageReadError naming every failed file."""
    results, failures = [], []
    for path in paths:
        try:
            results.append(read(path))
        except ImageReadError as e:
            failures.append(str(e))
    if len(failures) == 1:
        raise ImageReadError(failures[0])
    if failures:
        shown = " | ".join(failures[:SHOWN_ERRORS])
        more = f" | and {len(failures) - SHOWN_ERRORS} more" if len(failures) > SHOWN_ERRORS else ""
        raise ImageReadError(f"{len(failures)} images cannot be used: {shown}{more}")
    return results


def open_dataset_image(path: Path, mode: str) -> Image.Image:
    """A training or benchmark image, decoded and converted to `mode` ("RGB" or "L");
    any file that cannot be used raises an ImageReadError naming it."""
    image, _ = _open(Path(path), DATASET_FORMATS)
    return image.convert(mode)


def read_mask(path: str | Path) -> Tensor:
    """An inpainting mask (H, W): 1 where a pixel is observed (white), 0 where it is missing (black)."""
    mask = read_image(path)
    return (mask.stored_channels().mean(dim=0) > 0.5).float()


def alpha_mask(image: ImageData) -> Tensor:
    """`--mask alpha`: the inpainting mask (H, W) of an image's own transparency, 1 where a pixel is
    observed (alpha at least 50 %), 0 where it is transparent (to fill)."""
    assert image.alpha is not None
    return (image.alpha >= 0.5).float()


def opaque(image: ImageData, fill: Tensor | None = None) -> ImageData:
    """The same image without its transparency: what inpainting its transparent pixels gives back. With
    `fill` (H, W: 1 where a pixel is known), the others read 0.5 grey, as an inpainting hole does,
    whatever colour the file keeps under its transparency."""
    if image.alpha is None:
        return image
    rgb = image.rgb if fill is None else torch.where(fill > 0.5, image.rgb, torch.full_like(image.rgb, 0.5))
    return replace(image, rgb=rgb, alpha=None, mode="L" if image.gray else "RGB")


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, without decoding the pixels; None when Pillow
    cannot tell (read_image then says why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except (OSError, ValueError, Image.DecompressionBombError, UnidentifiedImageError):
        return None
