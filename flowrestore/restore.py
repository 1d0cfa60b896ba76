"""Restore images with a trained solver: batches of one size, tiles for large images, faces,
measurements simulated for --degrade, and the results scored and laid out as their files.
One solve (padding, operator, solver, crop) is flowrestore.solving's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from flowrestore.errors import UsageError
from flowrestore.figure import side_by_side  # noqa: F401  (also imported from here)
from flowrestore.imageio import ImageData, as_stored
from flowrestore.metrics import psnr, ssim
from flowrestore.noise_level import estimate_sigma
from flowrestore.operators import TaskSpec
from flowrestore.resources import check_pixels, memory_errors

# crop, pad, padding and solve are also imported from here
from flowrestore.solving import (  # noqa: F401
    counts_storage,
    crop,
    noise_conditioned,
    observed_mask,
    pad,
    padding,
    simulate,
    solve,
    told_sigma,
)

if TYPE_CHECKING:
    from flowrestore.faces import Face, FaceOptions
    from flowrestore.tiling import Tiling

Progress = Callable[[int, int], None]  # (tiles done, tiles in all); an image that fits one tile is one
NARROW_HOLES = ("biharmonic", "model")  # who fills an inpainting hole too narrow for the model; the default first


@dataclass(frozen=True)
class Restoration:
    image: ImageData | None  # the restored image, in the input's file layout (None once released)
    measurement: Tensor | None  # (3, H, W): what the solver was given (the input, or the simulated y)
    sigma: float | None = None  # the noise level given to (or, fixed denoisers, reported beside) the model
    sigma_estimated: bool = False  # ... estimated from the image (no --sigma)
    sigma_seen: float | None = None  # with --sigma given (not --degrade): the level estimated from the image
    psnr: float | None = None  # against the input, in degrade mode only
    ssim: float | None = None
    comparison: Tensor | None = None  # (3, H, W'): measurement | restored [| reference]
    faces: tuple[Face, ...] = ()  # the faces restored at the prior's framing, in face mode
    by_model: bool = True  # False: inpainting holes all too narrow for the model, filled without it

    def released(self) -> "Restoration":
        """The same record without its pixels (image, measurement, comparison), once they are written:
        what a restore of many files keeps of each."""
        return replace(self, image=None, measurement=None, comparison=None)


def _batches(images: Sequence[ImageData], batch_size: int, alone: Callable[[ImageData], bool]) -> list[list[int]]:
    """Indices grouped by image size (and gray or colour), in chunks of at most batch_size;
    an image for which `alone` holds (one cut into tiles) in a batch of its own."""
    by_size: dict[tuple[int, int, bool, int], list[int]] = {}
    for i, image in enumerate(images):
        by_size.setdefault((image.height, image.width, image.gray, i if alone(image) else -1), []).append(i)
    return [group[s : s + batch_size] for group in by_size.values() for s in range(0, len(group), batch_size)]


def restore_images(
    model: nn.Module,
    images: Sequence[ImageData],
    task: TaskSpec,
    mask: Tensor | Sequence[Tensor] | None = None,
    *,
    degrade: bool = False,
    seeds: Sequence[int] | None = None,
    compare: bool = False,
    batch_size: int = 8,
    tiling: Tiling | None = None,
    progress: Progress | None = None,
    sigma: float | None = None,
    faces: FaceOptions | None = None,
    narrow_holes: str = "biharmonic",
) -> list[Restoration]:
    """Restore `images` (same-size ones batched together) with `model` for `task`.

    An image larger than `tiling.tile` (default: Tiling with the task's default_pad) is restored on its
    own in overlapping tiles, about a 512x512 tile's worth of pixels per solver call whatever
    `batch_size`; smaller ones go to the solver whole, `batch_size` at a time.

    `mask` (H, W), 1 = observed, replaces the task's centre box when inpainting; it must
    match every image's size. A sequence of masks gives each image its own (each image then
    goes to the solver on its own). With `degrade`, the images are treated as clean references:
    each is measured with its own noise seed (`seeds`, default 0, 1, 2, ...), restored and
    scored (PSNR, and SSIM when scikit-image is installed) in its file's layout.

    A noise-conditioned model restores at `sigma`; without it, at the task's noise level in
    degrade mode and otherwise at the level estimated from each image (`noise_level`).

    With `faces` (flowrestore.faces.FaceOptions), each face of a photo is also restored at the
    prior's framing and pasted back (docs/faces.md); such a photo is restored on its own.

    When inpainting, `narrow_holes="biharmonic"` (the default) fills the holes too narrow for the model
    (flowrestore.narrow_holes: no 11x11 square fits them) by biharmonic interpolation after the model
    has filled the rest, and a mask with only such holes is not given to the model at all;
    `"model"` leaves every hole to the model.
    """
    if narrow_holes not in NARROW_HOLES:
        raise UsageError(f"unknown narrow-hole fill {narrow_holes!r}; choose one of {', '.join(NARROW_HOLES)}")
    from flowrestore.faces import wanted
    from flowrestore.tiling import Tiling, count_tiles, default_pad, fits_one_tile  # builds on solve

    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, got {batch_size}")
    tiling = Tiling(pad=default_pad(task)) if tiling is None else tiling
    multiple = model.size_multiple
    own_masks = isinstance(mask, Sequence)  # one per image
    masks = list(mask) if own_masks else [mask] * len(images)
    for image, each in zip(images, masks, strict=True):
        check_pixels(image.width, image.height, image.source or "the image")
        observed_mask(task, each, image.height, image.width, image.source or "the image")
    seeds = list(range(len(images))) if seeds is None else list(seeds)
    device = next(model.parameters()).device
    results: list[Restoration | None] = [None] * len(images)
    total = sum(count_tiles(image.height, image.width, tiling, multiple) for image in images)
    done = 0

    def advance(tiles: int) -> None:
        nonlocal done
        done += tiles
        if progress is not None:
            progress(done, total)

    face_mode = lambda image: wanted(faces, image.height, image.width)  # noqa: E731
    alone = lambda image: (own_masks or face_mode(image)  # noqa: E731
                           or not fits_one_tile(image.height, image.width, tiling, multiple))
    for batch in _batches(images, batch_size, alone):
        first, batch_mask = images[batch[0]], masks[batch[0]]  # one mask for the batch (its own when alone)
        with memory_errors(
            f"restoring {first.source or 'an image'} ({first.width}x{first.height})",
            f"lower --tile (now {tiling.tile}) or --batch-size (now {batch_size}), or close other programs",
        ):
            # One image is used as it is: a stacked copy of a large photo would cost memory.
            x = first.rgb[None] if len(batch) == 1 else torch.stack([images[i].rgb for i in batch])
            x = x.to(device)  # (B, 3, H, W)
            y = _measure(x, first.gray, task, batch_mask, [seeds[i] for i in batch]) if degrade else x
            levels, estimated = _noise_levels(model, y, task, sigma, degrade)
            seen = _seen_levels(y) if levels is not None and sigma is not None and not degrade else None
            x_hat, found, by_model = _solve_batch(model, y, task, batch_mask, tiling, advance, levels, faces,
                                                  face_mode(first), degrade, narrow_holes == "biharmonic")
            y = y.cpu()
            for j, i in enumerate(batch):
                result = replace(_result(images[i], x_hat[j], y[j], degrade, compare), faces=found, by_model=by_model)
                if levels is not None:
                    result = replace(result, sigma=float(levels[j]), sigma_estimated=estimated,
                                     sigma_seen=None if seen is None else float(seen[j]))
                results[i] = result
    return results  # type: ignore[return-value]


def _measure(x: Tensor, gray: bool, task: TaskSpec, mask: Tensor | None, seeds: list[int]) -> Tensor:
    """Simulated measurements of clean images x (B, 3, H, W); gray images are measured on their
    one channel, as a gray camera would see them."""
    channels = 1 if gray else 3
    return simulate(x[:, :channels], task, mask, seeds).expand_as(x).contiguous()


def _solve_batch(model: nn.Module, y: Tensor, task: TaskSpec, mask: Tensor | None, tiling: Tiling,
                 advance: Callable[[int], None], levels: Tensor | None, faces: FaceOptions | None,
                 face_mode: bool, degrade: bool, fill_narrow: bool) -> tuple[Tensor, tuple, bool]:
    """x_hat (B, 3, H, W) on the CPU, the faces restored in face mode (a batch of one), and whether the
    model restored the whole image (not when every inpainting hole is narrow)."""
    from flowrestore.faces import with_faces
    from flowrestore.narrow_holes import biharmonic_fill, find
    from flowrestore.tiling import count_tiles, solve_tiled

    height, width = y.shape[-2:]
    narrow, only_narrow = None, False
    if fill_narrow and task.task == "inpaint":
        narrow, only_narrow = find(observed_mask(task, mask, height, width)[0, 0])
    # Face mode with only_faces (or an aligned square face) needs no restoration of the whole, nor
    # a mask whose every hole is narrow: biharmonic interpolation fills it from the known pixels alone.
    if (face_mode and (faces.only_faces or (faces.mode == "aligned" and height == width))) or only_narrow:
        x_hat = y.cpu().clone()
        advance(count_tiles(height, width, tiling, model.size_multiple))
    else:
        # A file's pixels are clipped to [0, 1]; a simulated measurement (degrade) is not.
        x_hat = solve_tiled(model, y, task, mask, tiling, progress=advance, sigma=levels, clipped=not degrade).cpu()
    found = ()
    if face_mode:
        sigma_photo = None if levels is None else float(levels[0])
        x_hat[0], found = with_faces(model, y[0], x_hat[0], task, mask, faces, sigma_photo)
    return (x_hat if narrow is None else biharmonic_fill(x_hat, narrow)), found, not only_narrow


def _noise_levels(model: nn.Module, y: Tensor, task: TaskSpec, sigma: float | None,
                  degrade: bool) -> tuple[Tensor | None, bool]:
    """The noise level per image (B,) for a noise-conditioned model or a denoising task, and whether
    it was estimated. A fixed-level denoiser restores at its own level whatever this says: for it,
    the level is only reported (the CLI suggests the noise-aware model when it is far off)."""
    if not noise_conditioned(model) and task.task != "denoise":
        return None, False
    told = lambda noise: told_sigma(model, noise, eight_bit=not degrade)  # noqa: E731 (a file is 8-bit)
    if sigma is not None:
        return told(torch.full((y.shape[0],), float(sigma))), False
    if degrade:
        return told(torch.full((y.shape[0],), task.noise_sigma)), False
    try:
        # a model that counts storage is told the file's rounding on top of the estimate (0 for a clean file)
        return told(estimate_sigma(y.cpu()).clamp_min(0.0 if counts_storage(model) else 1e-3)), True
    except UsageError:
        if noise_conditioned(model):
            raise
        return None, False  # only reported: an image too small to estimate from is restored all the same


def _seen_levels(y: Tensor) -> Tensor | None:
    """The noise level estimated in each image of y, to set beside a given --sigma; None for images
    too small to estimate from."""
    try:
        return estimate_sigma(y.cpu())
    except UsageError:
        return None


def _result(image: ImageData, x_hat: Tensor, y: Tensor, degrade: bool, compare: bool) -> Restoration:
    restored = image.with_rgb(x_hat)
    score_psnr = score_ssim = None
    if degrade:
        # Scored as the file will be written: gray images on their one channel.
        ours, reference = restored.stored_channels(), as_stored(image.rgb, image.gray)
        score_psnr, score_ssim = psnr(ours, reference), ssim(ours, reference)
    comparison = None
    if compare:
        panels = [y, restored.stored_channels().expand(3, -1, -1)] + ([image.rgb] if degrade else [])
        comparison = side_by_side(panels)
    return Restoration(image=restored, measurement=y, psnr=score_psnr, ssim=score_ssim, comparison=comparison)
