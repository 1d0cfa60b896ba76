"""Folders of training and evaluation images: which files they hold, and each one read as a square.

The one suffix set and the one framing (the largest centred square, resized with Lanczos) shared
by training (flowrestore.training.data) and the benchmark (flowrestore.benchmark.datasets).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from flowrestore.imageio import open_dataset_image

SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})


def image_files(folder: Path) -> list[Path]:
    """Every image file under `folder`, recursively, in a fixed (sorted) order; none is no error here."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square and resize to size x size (a no-op for images already that size)."""
    w, h = image.size
    if (w, h) == (size, size):
        return image
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    return image if side == size else image.resize((size, size), Image.Resampling.LANCZOS)


def read_square(path: Path, mode: str, size: int | None) -> np.ndarray:
    """One image as uint8 (H, W, C) in `mode` ("RGB" or "L"), fitted to size x size unless None;
    a file that cannot be used raises an ImageReadError naming it."""
    with open_dataset_image(path, mode) as image:
        array = np.asarray(image if size is None else fit_square(image, size))
    return array if array.ndim == 3 else array[..., None]
