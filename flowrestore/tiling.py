"""Restoring an image larger than a tile in overlapping tiles: bounded memory at any size, no seams.

The solver sees one tile (a square of `tile` pixels, a few stacked in a batch) at a time; each
tile's result is weighted by a window and the weighted results are summed and normalised:

- `pad` pixels along each inner side of a tile (a side that is not the image's own border) get
  weight 0. They are context only: the solver's answer near a tile's edge depends on the pixels
  beyond it, which the tile does not hold. On the shipped denoiser the difference from the
  untiled answer falls below 1/255 within 32 pixels of a cut and below 5e-4 at 48 (see
  docs/speed.md), hence the default 48. Deblurring reaches farther, by the blur's own reach
  through the folds (and a periodic blur wraps around each tile): `default_pad` adds three
  kernel radii, 56 for the paper's 5x5 blur, 96 for a 31-tap one (measured: a 31-tap model's
  cut effect falls below an 8-bit level by 64 pixels).
- Over the next `ramp` pixels the weight rises as a raised cosine, sin^2, so that two
  neighbouring windows sum to exactly 1 (sin^2 + cos^2): the tiles cross-fade, never cut.
- Tile corners sit on the model's grid (multiples of `size_multiple`), so every squeeze sees
  the pixels grouped as in the untiled image.

Weights are products of one window along each axis and the tiles form a grid, so the
normaliser is the outer product of two 1-D sums and no (H, W) weight map is stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from flowrestore.errors import UsageError
from flowrestore.operators import TaskSpec
from flowrestore.solving import crop, observed_mask, pad, padding, solve

TileProgress = Callable[[int], None]  # called with the number of tiles just finished
# Pixels the solver gets per call when tiling: one 512x512 tile, or more smaller ones. It bounds
# the solver's memory whatever --batch-size says, and keeps each activation (64 channels at half
# resolution: 16 MB) under glibc's 32 MB ceiling for reusable heap blocks (flowrestore.allocator).
PIXELS_PER_CALL = 512 * 512


@dataclass(frozen=True)
class Tiling:
    """How images larger than one tile are cut (all sizes in pixels)."""

    tile: int = 512  # side of the square the solver sees at once; rounded up to the model's multiple
    pad: int = 48  # context along each inner side of a tile, weight 0
    ramp: int = 16  # at least this wide a cross-fade between neighbouring tiles

    def __post_init__(self) -> None:
        if self.pad < 0 or self.ramp < 1:
            raise UsageError(f"tile padding must be at least 0 and the ramp at least 1, got {self.pad}, {self.ramp}")
        if self.tile < 2 * self.pad + self.ramp + 1:
            raise UsageError(
                f"a {self.tile}-pixel tile leaves nothing between its {self.pad}-pixel paddings; "
                f"use --tile of at least {2 * self.pad + self.ramp + 8} or a smaller --tile-pad"
            )

    def side(self, multiple: int) -> int:
        return -(-self.tile // multiple) * multiple

    def stride(self, multiple: int) -> int:
        """Distance between tile corners: the largest multiple leaving pad + ramp + pad of overlap."""
        stride = (self.side(multiple) - 2 * self.pad - self.ramp) // multiple * multiple
        if stride < multiple:
            raise UsageError(
                f"--tile {self.tile} with --tile-pad {self.pad} leaves no room between tiles for a model "
                f"working on multiples of {multiple}; raise --tile or lower --tile-pad"
            )
        return stride


def default_pad(task: TaskSpec) -> int:
    """The tile padding for `task`: 48, plus three blur-kernel radii for deblurring, on the grid of 8."""
    if task.task != "deblur":
        return Tiling.pad
    return -(-(Tiling.pad + 3 * (task.kernel_size // 2)) // 8) * 8


def spans(length: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """(start, end) of the tiles along one axis of `length` pixels; the last one ends at the border."""
    if length <= tile:
        return [(0, length)]
    starts = list(range(0, length - tile, stride)) + [length - tile]
    return [(s, s + tile) for s in starts]


def window(start: int, end: int, length: int, pad: int, ramp: int) -> Tensor:
    """Weights (end - start,) of one tile along one axis: 0 over `pad`, then sin^2 over `ramp`, then 1.

    A side on the image's border keeps weight 1 up to the border: no other tile covers it, and
    the untiled solver sees the same border there.
    """
    position = torch.arange(end - start, dtype=torch.float64)
    distance = torch.full_like(position, math.inf)
    if start > 0:
        distance = torch.minimum(distance, position)
    if end < length:
        distance = torch.minimum(distance, end - start - 1 - position)
    u = ((distance - pad + 0.5) / ramp).clamp(0, 1)
    return (torch.sin(0.5 * math.pi * u) ** 2).float()


def count_tiles(height: int, width: int, tiling: Tiling, multiple: int) -> int:
    """How many solver calls (tiles) one image of this size takes; 1 when it fits a tile."""
    pads = padding(height, width, multiple)
    h, w = height + pads[2] + pads[3], width + pads[0] + pads[1]
    side, stride = tiling.side(multiple), tiling.stride(multiple)
    return len(spans(h, side, stride)) * len(spans(w, side, stride))


def fits_one_tile(height: int, width: int, tiling: Tiling, multiple: int) -> bool:
    return max(height, width) <= tiling.side(multiple)


def solve_tiled(
    model: nn.Module,
    y: Tensor,
    task: TaskSpec,
    mask: Tensor | None = None,
    tiling: Tiling = Tiling(),
    batch_size: int | None = None,
    progress: TileProgress | None = None,
    sigma: float | Tensor | None = None,
    clipped: bool = False,
) -> Tensor:
    """`solve` for measurements y (B, 3, H, W) of any size, in overlapping tiles of `tiling.tile`.

    An image that fits one tile goes to `solve` whole, unchanged. `batch_size` tiles (default:
    as many as make PIXELS_PER_CALL) go through the solver together; `progress(n)` is called
    after each call with its number of tiles. `sigma` (a number or one per image) goes on to
    `solve`, each tile getting its image's; so does `clipped`.
    """
    multiple = model.size_multiple
    height, width = y.shape[-2:]
    if task.task == "deblur" and tiling.pad < task.kernel_size // 2:
        # Within a kernel radius of a cut, the tile's A misses pixels that blurred into y.
        raise UsageError(
            f"tiles for a {task.kernel_size}x{task.kernel_size} blur need --tile-pad of at least "
            f"{task.kernel_size // 2}, got {tiling.pad}"
        )
    if fits_one_tile(height, width, tiling, multiple):
        x_hat = solve(model, y, task, mask, sigma, clipped)
        if progress is not None:
            progress(y.shape[0])
        return x_hat
    # Pad once, as `solve` would, so that the tiles lie on the same grid as the untiled image.
    pads = padding(height, width, multiple)
    observed = observed_mask(task, mask, height, width)
    y = pad(y, pads)
    if observed is not None:
        observed = pad(observed.to(y.device), pads)[0, 0]  # (H', W')
    side, stride = tiling.side(multiple), tiling.stride(multiple)
    batch_size = batch_size or max(1, PIXELS_PER_CALL // side**2)
    rows, cols = spans(y.shape[-2], side, stride), spans(y.shape[-1], side, stride)
    weight_rows = [window(a, b, y.shape[-2], tiling.pad, tiling.ramp).to(y.device) for a, b in rows]
    weight_cols = [window(a, b, y.shape[-1], tiling.pad, tiling.ramp).to(y.device) for a, b in cols]

    total = torch.zeros_like(y)  # (B, 3, H', W'): sum of weighted tile results
    jobs = [(i, r, c) for i in range(y.shape[0]) for r in range(len(rows)) for c in range(len(cols))]
    for first in range(0, len(jobs), batch_size):
        batch = jobs[first : first + batch_size]
        pieces = torch.stack([y[i, :, slice(*rows[r]), slice(*cols[c])] for i, r, c in batch])
        levels = None if sigma is None else _per_image(sigma, y.shape[0])[[i for i, _, _ in batch]]
        if observed is None:
            results = solve(model, pieces, task, None, levels, clipped)
        else:  # each tile sees its own part of the mask
            results = torch.cat([
                solve(model, pieces[k : k + 1], task, observed[slice(*rows[r]), slice(*cols[c])],
                      None if levels is None else levels[k : k + 1], clipped)
                for k, (_, r, c) in enumerate(batch)
            ])  # fmt: skip
        for k, (i, r, c) in enumerate(batch):
            weight = weight_rows[r][:, None] * weight_cols[c][None, :]
            total[i, :, slice(*rows[r]), slice(*cols[c])] += results[k] * weight
        if progress is not None:
            progress(len(batch))
    normaliser = _coverage(weight_rows, rows, y.shape[-2])[:, None] * _coverage(weight_cols, cols, y.shape[-1])
    return crop(total.div_(normaliser), pads)


def _per_image(sigma: float | Tensor, batch: int) -> Tensor:
    return torch.as_tensor(sigma, dtype=torch.float32).reshape(-1).expand(batch)


def _coverage(weights: list[Tensor], spans_: list[tuple[int, int]], length: int) -> Tensor:
    """Sum of the windows along one axis, (length,); positive everywhere by construction."""
    total = torch.zeros(length, device=weights[0].device)
    for w, (a, b) in zip(weights, spans_):
        total[a:b] += w
    assert bool((total > 0).all()), "tiles leave a gap; Tiling.stride keeps them overlapping"
    return total
