"""Example grids like the paper's Figs. 2-4: one row per image; columns measurement, methods, truth."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

HEADER = 14  # pixels of column title above the tiles


def _tile(image: Tensor, scale: int) -> Image.Image:
    """(C, H, W) in [0, 1] -> an RGB tile, clipped, enlarged `scale` times without smoothing."""
    array = (image.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    tile = Image.fromarray(array)
    return tile.resize((tile.width * scale, tile.height * scale), Image.Resampling.NEAREST)


def example_grid(columns: dict[str, Tensor], scale: int = 2, gap: int = 2) -> Image.Image:
    """Lay out {title: images (N, C, H, W)} as N rows of tiles, one titled column per entry."""
    titles = list(columns)
    n, _, h, w = next(iter(columns.values())).shape
    th, tw = h * scale, w * scale
    grid = Image.new("RGB", (len(titles) * (tw + gap) - gap, HEADER + n * (th + gap) - gap), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for c, title in enumerate(titles):
        left = c * (tw + gap)
        draw.text((left + 2, 1), title[: max(1, tw // 6)], fill="black", font=font)
        for r in range(n):
            grid.paste(_tile(columns[title][r], scale), (left, HEADER + r * (th + gap)))
    return grid


def setting_figure(truth: Tensor, measurement: Tensor, estimates: dict[str, Tensor], scale: int = 2) -> Image.Image:
    """The paper's layout: measurement, every method's estimate, then the ground truth."""
    columns = {"measurement": measurement, **estimates, "ground truth": truth}
    return example_grid({k: torch.as_tensor(v) for k, v in columns.items()}, scale=scale)
