"""Restore images with a trained solver: measurement -> operator -> padding -> solver -> crop.

Boundary choices (the models are fully convolutional but need H and W to be multiples of
`model.size_multiple`, 2**levels):
- The measurement is padded by reflection (replication when the image is smaller than the
  padding), split evenly between the two sides, and the result is cropped back. Reflection
  continues edges without the jump that zero padding would add, which matters most for the
  circular blur of deblurring.
- An inpainting mask is padded by the same reflection, so the padded problem is exactly the
  mirror-extended one: a padded pixel is observed if and only if its mirror source is.
- For inpainting, pixels outside the mask are set to 1/2 grey before solving (the centred zero,
  what A(x - 1/2) + 1/2 gives there), so whatever the file holds in the hole is not a measurement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from flowrestore.errors import MaskSizeError, UsageError
from flowrestore.imageio import ImageData, as_stored
from flowrestore.metrics import psnr, ssim
from flowrestore.noise_level import estimate_sigma
from flowrestore.operators import CENTRE, TaskSpec, centre_box_mask, measure_each
from flowrestore.resources import check_pixels, memory_errors

if TYPE_CHECKING:
    from flowrestore.faces import Face, FaceOptions
    from flowrestore.tiling import Tiling

Progress = Callable[[int, int], None]  # (tiles done, tiles in all); an image that fits one tile is one


@dataclass(frozen=True)
class Restoration:
    image: ImageData  # the restored image, in the input's file layout
    measurement: Tensor  # (3, H, W): what the solver was given (the input, or the simulated y)
    sigma: float | None = None  # the noise level a noise-conditioned model was given
    sigma_estimated: bool = False  # ... estimated from the image (no --sigma)
    psnr: float | None = None  # against the input, in degrade mode only
    ssim: float | None = None
    comparison: Tensor | None = None  # (3, H, W'): measurement | restored [| reference]
    faces: tuple[Face, ...] = ()  # the faces restored at the prior's framing, in face mode


def padding(height: int, width: int, multiple: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) growing H and W to the next multiple, split evenly."""
    extra_h, extra_w = -height % multiple, -width % multiple
    return extra_w // 2, extra_w - extra_w // 2, extra_h // 2, extra_h - extra_h // 2


def pad(x: Tensor, pads: tuple[int, int, int, int]) -> Tensor:
    """Reflect-pad (B, C, H, W); replicate where reflection needs more pixels than the image has."""
    if not any(pads):
        return x
    left, right, top, bottom = pads
    fits = max(left, right) < x.shape[-1] and max(top, bottom) < x.shape[-2]
    return F.pad(x, pads, mode="reflect" if fits else "replicate")


def crop(x: Tensor, pads: tuple[int, int, int, int]) -> Tensor:
    left, right, top, bottom = pads
    return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]


def observed_mask(
    task: TaskSpec, mask: Tensor | None, height: int, width: int, image: str = "the image"
) -> Tensor | None:
    """The inpainting mask (1, 1, H, W), 1 = observed: the user's, else the task's centre box."""
    if task.task != "inpaint":
        return None
    if mask is None:
        if task.box > min(height, width):
            raise UsageError(
                f"the {task.box}x{task.box} inpainting box does not fit {image} ({width}x{height}); "
                "pass a smaller --box or a --mask"
            )
        return centre_box_mask(height, width, task.box)
    if tuple(mask.shape[-2:]) != (height, width):
        raise MaskSizeError(
            f"the mask is {mask.shape[-1]}x{mask.shape[-2]} but {image} is {width}x{height} "
            "(width x height); give a mask of the image's size"
        )
    return mask.reshape(1, 1, height, width).float()


def simulate(x: Tensor, task: TaskSpec, mask: Tensor | None, seeds: Sequence[int]) -> Tensor:
    """Measurements y = A x + noise of clean images (B, 3, H, W), one noise seed per image."""
    observed = observed_mask(task, mask, *x.shape[-2:])
    operator = task.operator(*x.shape[-2:], observed).to(x.device)
    return measure_each(x, operator, task.noise_sigma, list(seeds))


def noise_conditioned(model: nn.Module) -> bool:
    """Whether `model` restores at a noise level it is given (docs/method.md, noise conditioning)."""
    return bool(getattr(getattr(model, "config", None), "noise_conditioned", False))


def solve(model: nn.Module, y: Tensor, task: TaskSpec, mask: Tensor | None = None, sigma=None) -> Tensor:
    """x_hat (B, 3, H, W) in [0, 1] from measurements y (B, 3, H, W) of any size; `sigma` (a number
    or one per image) is the noise level a noise-conditioned model restores at."""
    height, width = y.shape[-2:]
    pads = padding(height, width, model.size_multiple)
    observed = observed_mask(task, mask, height, width)
    if observed is not None:
        observed = observed.to(y.device)
        y = torch.where(observed > 0.5, y, torch.full_like(y, CENTRE))
        observed = pad(observed, pads)
    operator = task.operator(height + pads[2] + pads[3], width + pads[0] + pads[1], observed).to(y.device)
    with torch.no_grad():
        x_hat = model(pad(y, pads), operator, sigma=sigma) if noise_conditioned(model) else model(pad(y, pads), operator)
    return crop(x_hat, pads).clamp(0, 1)


def side_by_side(panels: Sequence[Tensor], gap: int = 2) -> Tensor:
    """Panels (3, H, W) in a row on a white background, `gap` pixels apart; values clipped to [0, 1]."""
    height = panels[0].shape[-2]
    width = sum(p.shape[-1] for p in panels) + gap * (len(panels) - 1)
    canvas = torch.ones(3, height, width)
    left = 0
    for p in panels:
        canvas[:, :, left : left + p.shape[-1]] = p.detach().float().cpu().clamp(0, 1)
        left += p.shape[-1] + gap
    return canvas


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
    mask: Tensor | None = None,
    *,
    degrade: bool = False,
    seeds: Sequence[int] | None = None,
    compare: bool = False,
    batch_size: int = 8,
    tiling: Tiling | None = None,
    progress: Progress | None = None,
    sigma: float | None = None,
    faces: FaceOptions | None = None,
) -> list[Restoration]:
    """Restore `images` (same-size ones batched together) with `model` for `task`.

    An image larger than `tiling.tile` (default: Tiling with the task's default_pad) is restored on its
    own in overlapping tiles, about a 512x512 tile's worth of pixels per solver call whatever
    `batch_size`; smaller ones go to the solver whole, `batch_size` at a time.

    `mask` (H, W), 1 = observed, replaces the task's centre box when inpainting; it must
    match every image's size. With `degrade`, the images are treated as clean references:
    each is measured with its own noise seed (`seeds`, default 0, 1, 2, ...), restored and
    scored (PSNR, and SSIM when scikit-image is installed) in its file's layout.

    A noise-conditioned model restores at `sigma`; without it, at the task's noise level in
    degrade mode and otherwise at the level estimated from each image (`noise_level`).

    With `faces` (flowrestore.faces.FaceOptions), each face of a photo is also restored at the
    prior's framing and pasted back (docs/faces.md); such a photo is restored on its own.
    """
    from flowrestore.faces import wanted, with_faces
    from flowrestore.tiling import Tiling, count_tiles, default_pad, fits_one_tile, solve_tiled  # builds on solve

    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, got {batch_size}")
    tiling = Tiling(pad=default_pad(task)) if tiling is None else tiling
    multiple = model.size_multiple
    for image in images:
        check_pixels(image.width, image.height, image.source or "the image")
        observed_mask(task, mask, image.height, image.width, image.source or "the image")
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
    alone = lambda image: face_mode(image) or not fits_one_tile(image.height, image.width, tiling, multiple)  # noqa: E731
    for batch in _batches(images, batch_size, alone):
        first = images[batch[0]]
        with memory_errors(
            f"restoring {first.source or 'an image'} ({first.width}x{first.height})",
            f"lower --tile (now {tiling.tile}) or --batch-size (now {batch_size}), or close other programs",
        ):
            # One image is used as it is: a stacked copy of a large photo would cost memory.
            x = first.rgb[None] if len(batch) == 1 else torch.stack([images[i].rgb for i in batch])
            x = x.to(device)  # (B, 3, H, W)
            y = x
            if degrade:
                # Gray images are measured on their one channel, as a gray camera would see them.
                channels = 1 if first.gray else 3
                y = simulate(x[:, :channels], task, mask, [seeds[i] for i in batch]).expand_as(x).contiguous()
            levels, estimated = _noise_levels(model, y, task, sigma, degrade)
            # Face mode with only_faces (or an aligned square face) needs no restoration of the whole.
            only_faces = face_mode(first) and (faces.only_faces or (faces.mode == "aligned" and first.height == first.width))
            if only_faces:
                x_hat = y.cpu().clone()
                advance(count_tiles(first.height, first.width, tiling, multiple))
            else:
                x_hat = solve_tiled(model, y, task, mask, tiling, progress=advance, sigma=levels).cpu()
            found: tuple = ()
            if face_mode(first):
                sigma_photo = None if levels is None else float(levels[0])
                x_hat[0], found = with_faces(model, y[0], x_hat[0], task, mask, faces, sigma_photo)
            y = y.cpu()
            for j, i in enumerate(batch):
                result = replace(_result(images[i], x_hat[j], y[j], degrade, compare), faces=found)
                if levels is not None:
                    result = replace(result, sigma=float(levels[j]), sigma_estimated=estimated)
                results[i] = result
    return results  # type: ignore[return-value]


def _noise_levels(model: nn.Module, y: Tensor, task: TaskSpec, sigma: float | None,
                  degrade: bool) -> tuple[Tensor | None, bool]:
    """The noise level per image (B,) for a noise-conditioned model, and whether it was estimated."""
    if not noise_conditioned(model):
        return None, False
    if sigma is not None:
        return torch.full((y.shape[0],), float(sigma)), False
    if degrade:
        return torch.full((y.shape[0],), task.noise_sigma), False
    return estimate_sigma(y.cpu()).clamp_min(1e-3), True


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
