"""Evaluation images: the bundled test sets or any image folder, with a fixed seed per image.

A measurement's noise is seeded from the image's name (its path relative to the folder), not
from its position, so an image gets the same noise whatever `limit` or batch size is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from flowrestore.errors import UsageError
from flowrestore.image_folders import SUFFIXES, image_files, read_square
from flowrestore.imageio import read_each
from flowrestore.operators.measurement import image_seed

DATA_ROOT = Path(__file__).resolve().parent.parent / "data"
BUNDLED = {"celeba": "CelebA-HQ 64x64 test set (489 images)", "anime": "Anime faces 64x64 (99 images)"}


@dataclass(frozen=True)
class ImageSet:
    """N images (N, C, H, W) in [0, 1], their names and their measurement seeds."""

    name: str
    folder: Path
    names: tuple[str, ...]
    images: Tensor

    @property
    def seeds(self) -> list[int]:
        return [image_seed(n) for n in self.names]

    def __len__(self) -> int:
        return len(self.names)


def dataset_folder(dataset: str) -> tuple[str, Path]:
    """(name, folder) for a bundled set ('celeba', 'anime') or a folder path."""
    if dataset in BUNDLED:
        return dataset, DATA_ROOT / dataset
    folder = Path(dataset).expanduser()
    if not folder.is_dir():
        raise UsageError(f"dataset {dataset!r} is neither {' nor '.join(BUNDLED)} nor an image folder")
    return folder.name, folder


def load_images(dataset: str, limit: int | None = None, size: int | None = None) -> ImageSet:
    """The first `limit` images of a dataset as one tensor.

    `size` centre-crops every image to a square and resizes it to size x size; without it all
    images must already share one size.
    """
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    name, folder = dataset_folder(dataset)
    files = image_files(folder)
    if not files:
        raise UsageError(f"no images ({', '.join(sorted(SUFFIXES))}) found under {folder}")
    files = files[:limit]
    # An unreadable file stops the benchmark, naming every such file: scores over fewer images
    # than the folder holds would not compare with other runs.
    arrays = read_each(files, lambda p: read_square(p, "RGB", size).astype(np.float32) / 255.0)
    shapes = {a.shape[:2] for a in arrays}
    if len(shapes) > 1:
        sizes = ", ".join(f"{w}x{h}" for h, w in sorted(shapes)[:3])
        raise UsageError(f"images under {folder} have different sizes ({sizes}); pass --size N to resize them")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    names = tuple(p.relative_to(folder).as_posix() for p in files)
    return ImageSet(name=name, folder=folder, names=names, images=images)
