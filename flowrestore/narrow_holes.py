"""Inpainting holes too narrow for the learned model, and their fill by biharmonic interpolation.

The shipped inpainter was trained to fill blocks (the paper's 19x19 centre box, shifted by a few
pixels). In holes narrower than that (scratches, strokes, small spots) the known pixels are close on
every side, and biharmonic interpolation, the smoothest surface through them (scikit-image's
`inpaint_biharmonic`, here in torch), restores them better: on 48 celeba64/val faces 2.2-4.4 dB better
for strokes 3 to 9 pixels wide, level for squares of 8 and 10 pixels, while squares of 12 pixels and
more are the model's (benchmarks/inpaint_holes.py, docs/results/inpaint-position.md). A hole pixel is
narrow when no WIDTH x WIDTH square of hole pixels covers it (a morphological opening of the hole);
restore fills those after the model has filled the rest, so a stroke that runs into a block meets
the model's fill of the block with its slope.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

# On 48 celeba64/val faces (glow-inpaint 26886d48..., benchmarks/inpaint_holes.py) biharmonic interpolation
# filled strokes 3, 7 and 9 pixels wide 2.2-4.4 dB better than the model, on 98-100 % of the faces; squares
# of 8 and 10 pixels came out level (medians +0.65 and -0.10 dB), and from 12 pixels up the model's median
# was 0.6-2.3 dB ahead. So a hole in which no 11x11 square fits is narrow. Wider rules gain on free-form
# stains but hand holes that hide a feature to a smooth fill (benchmarks/narrow_width.py: at 19 the
# bundled example with its eyes and nose erased lost 1.3 dB, and its eyes).
WIDTH = 11
TOLERANCE = 1e-7  # conjugate gradients stop when the residual is this small, relative to the right-hand side
MAX_ITERATIONS = 5000  # far more than a hole narrower than WIDTH needs (a few hundred)


def narrow_part(observed: Tensor, width: int = WIDTH) -> Tensor:
    """The hole pixels of `observed` (H, W, or (1, 1, H, W); 1 = known) that no `width` x `width` square
    of hole pixels covers, as a (H, W) bool tensor. Outside the image counts as known, so a hole along the border
    is as wide as its part inside the image."""
    hole = (observed < 0.5).float().reshape(1, 1, *observed.shape[-2:])
    if width <= 1 or not bool(hole.any()):
        return torch.zeros_like(hole[0, 0], dtype=torch.bool)
    low, high = (width - 1) // 2, width // 2
    known = F.pad(1 - hole, (low, high, low, high), value=1.0)
    core = 1 - F.max_pool2d(known, width, stride=1)  # centres of the squares that lie inside the hole
    covered = F.max_pool2d(F.pad(core, (high, low, high, low), value=0.0), width, stride=1)
    return (hole * (1 - covered))[0, 0] > 0.5


def find(observed: Tensor, width: int = WIDTH) -> tuple[Tensor | None, bool]:
    """The narrow part of the holes of `observed` (H, W; 1 = known), None when there is none, and
    whether it is every hole: then restore does not run the model at all, the fill alone is the result."""
    narrow = narrow_part(observed, width)
    if not bool(narrow.any()) or not bool((observed > 0.5).any()):  # nothing narrow, or nothing to go on
        return None, False
    return narrow, bool((narrow == (observed < 0.5).reshape(narrow.shape)).all())


def _neighbours(index: Tensor, height: int, width: int) -> Tensor:
    """The four neighbours (4, N) of flat pixel indices, mirrored at the image's edges."""
    rows, cols = index // width, index % width
    return torch.stack([
        rows.sub(1).clamp_min(0) * width + cols, rows.add(1).clamp_max(height - 1) * width + cols,
        rows * width + cols.sub(1).clamp_min(0), rows * width + cols.add(1).clamp_max(width - 1),
    ])


def biharmonic_fill(x: Tensor, free: Tensor, tolerance: float = TOLERANCE,
                    max_iterations: int = MAX_ITERATIONS) -> Tensor:
    """x (B, C, H, W) with the pixels where `free` (H, W, bool) holds replaced by biharmonic
    interpolation of all the others: the values there that minimise the sum of squared discrete
    Laplacians (5-point, mirrored at the image's edges) over every pixel whose Laplacian involves
    them, so that the fill is smooth and meets its surroundings with their slope (Δ²u = 0 inside,
    as scikit-image's `inpaint_biharmonic` solves it), kept within the range of the known values of
    each image and channel. The normal equations are solved by conjugate gradients in float64, from
    x's own values there; only the free pixels and their neighbours enter the iterations, so their
    cost grows with the number of free pixels, not with the image's."""
    height, width = free.shape
    index = free.flatten().nonzero().squeeze(1).cpu()
    out = x.clone(memory_format=torch.contiguous_format)  # so that `flat` below is a view of it
    if index.numel() == 0:
        return out
    position = torch.full((height * width,), -1, dtype=torch.long)
    position[index] = torch.arange(index.numel())
    rows = torch.unique(torch.cat([index, _neighbours(index, height, width).flatten()]))  # Laplacians to keep small
    stencil = torch.cat([_neighbours(rows, height, width), rows[None]])  # (5, M): four neighbours, the centre
    weights = torch.tensor([1.0, 1.0, 1.0, 1.0, -4.0], dtype=torch.float64)[:, None].expand_as(stencil)
    unknown = position[stencil] >= 0
    row_of, column_of, weight_of = (torch.arange(rows.numel()).expand_as(stencil)[unknown], position[stencil][unknown],
                                    weights[unknown])

    def laplacian(values: Tensor) -> Tensor:  # the free pixels' part of each kept Laplacian: (N, K) -> (M, K)
        return torch.zeros(rows.numel(), values.shape[1], dtype=values.dtype).index_add_(
            0, row_of, weight_of[:, None] * values[column_of])

    def transposed(residual: Tensor) -> Tensor:  # (M, K) -> (N, K)
        return torch.zeros(index.numel(), residual.shape[1], dtype=residual.dtype).index_add_(
            0, column_of, weight_of[:, None] * residual[row_of])

    flat = out.flatten(2)  # (B, C, H*W), a view of out
    pixels = flat.detach().cpu().to(torch.float64).reshape(-1, height * width)  # (K = B*C, H*W)
    known = (pixels[:, stencil] * (weights * ~unknown)).sum(1).T  # (M, K): the known pixels' part
    values = pixels[:, index].T.contiguous()  # (N, K), the start
    residual = -transposed(known) - transposed(laplacian(values))
    direction, power = residual.clone(), (residual * residual).sum(0)
    scale = float(transposed(known).abs().max()) or 1.0
    for _ in range(max_iterations):
        if float(power.max().sqrt()) <= tolerance * scale:
            break
        product = transposed(laplacian(direction))
        step = power / (direction * product).sum(0).clamp_min(1e-300)
        values += step * direction
        residual -= step * product
        previous, power = power, (residual * residual).sum(0)
        direction = residual + power / previous.clamp_min(1e-300) * direction
    # A biharmonic fill can overshoot its surroundings; like scikit-image's, it is kept within the range of
    # each image's known values in each channel.
    kept = pixels[:, ~free.flatten().cpu()]
    values = values.clamp(kept.min(dim=1).values, kept.max(dim=1).values) if kept.numel() else values
    flat[..., index.to(x.device)] = values.T.reshape(*flat.shape[:2], -1).to(x.dtype).to(x.device)
    return out


def fill_narrow(x_hat: Tensor, observed: Tensor, width: int = WIDTH) -> tuple[Tensor, int]:
    """x_hat (B, C, H, W) with its narrow hole pixels (`narrow_part` of `observed`) filled by
    `biharmonic_fill` from the rest, and how many pixels of each image that was."""
    free = narrow_part(observed.cpu(), width)
    count = int(free.sum())
    return (biharmonic_fill(x_hat, free) if count else x_hat), count
