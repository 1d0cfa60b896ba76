"""Image folders as uint8 tensors: loading, resizing, fingerprints, seeded batches."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import torch

from flowrestore.errors import UsageError
from flowrestore.image_folders import image_files, read_square
from flowrestore.imageio import read_each


def list_images(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively, in a fixed (sorted) order."""
    folder = Path(folder)
    if folder.is_file():
        raise UsageError(f"{folder} is a file; give the folder that holds the training images")
    if not folder.is_dir():
        raise UsageError(f"image folder {folder} does not exist; pass a folder of PNG/JPEG/WebP images")
    files = image_files(folder)
    if not files:
        raise UsageError(f"no images (PNG, JPEG, WebP) found under {folder}")
    return files


def load_folder(folder: Path, size: int = 64, channels: int = 3, limit: int | None = None) -> torch.Tensor:
    """All images of a folder as one uint8 tensor (N, C, size, size); decoded once per process."""
    return _load_folder(str(Path(folder).resolve()), size, channels, limit).clone()


@functools.lru_cache(maxsize=4)
def _load_folder(folder: str, size: int, channels: int, limit: int | None) -> torch.Tensor:
    files = list_images(Path(folder))[:limit]
    mode = "RGB" if channels == 3 else "L"
    # One unreadable file stops training, and the message names every such file: training on
    # fewer images than the folder holds would quietly change what the run learns.
    arrays = read_each(files, lambda path: read_square(path, mode, size))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def fingerprint(folder: Path) -> str:
    """A short hash of the folder's file names and sizes: identifies the training data in checkpoints."""
    h = hashlib.sha256()
    root = Path(folder)
    for path in list_images(root):
        h.update(f"{path.relative_to(root)}:{path.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [0, 1]."""
    return images.float() / 255.0


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(int(seed) * 7_919 + int(epoch)))


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """The images of global step `step`: consecutive slices of a per-epoch permutation."""
    per_epoch = max(n // batch_size, 1)
    epoch, k = divmod(step, per_epoch)
    order = epoch_order(n, seed, epoch)
    return order[k * batch_size : (k + 1) * batch_size]
