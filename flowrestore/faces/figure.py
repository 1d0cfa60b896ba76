"""The --show-faces figure: a photo with each restored face's frame (and the detector's box) drawn."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

FRAME_COLOUR = (0.1, 0.9, 0.2)  # the square restored at the prior's framing
BOX_COLOUR = (1.0, 0.8, 0.0)  # the detector's box


def _rectangle(canvas: Tensor, x: float, y: float, width: float, height: float, colour, thickness: int) -> None:
    _, h, w = canvas.shape
    x0, y0 = max(int(round(x)), 0), max(int(round(y)), 0)
    x1, y1 = min(int(round(x + width)), w), min(int(round(y + height)), h)
    if x1 <= x0 or y1 <= y0:
        return
    paint = torch.tensor(colour, dtype=canvas.dtype)[:, None, None]
    t = thickness
    canvas[:, y0 : min(y0 + t, y1), x0:x1] = paint
    canvas[:, max(y1 - t, y0) : y1, x0:x1] = paint
    canvas[:, y0:y1, x0 : min(x0 + t, x1)] = paint
    canvas[:, y0:y1, max(x1 - t, x0) : x1] = paint


def draw_frames(rgb: Tensor, faces: Sequence) -> Tensor:
    """A copy of `rgb` (3, H, W) with each face's frame (green) and detector box (yellow) outlined."""
    canvas = rgb.detach().float().cpu().clone()
    thickness = max(1, min(canvas.shape[-2:]) // 200)
    for face in faces:
        _rectangle(canvas, face.frame.x, face.frame.y, face.frame.side, face.frame.side, FRAME_COLOUR, thickness)
        _rectangle(canvas, face.box.x, face.box.y, face.box.width, face.box.height, BOX_COLOUR, thickness)
    return canvas


def write_frames(results: Sequence, paths: Sequence, force: bool) -> None:
    """<name>_faces.png for restore --show-faces: each restoration's measurement with its faces'
    frames drawn (flowrestore.restore.Restoration; a None path writes nothing)."""
    from flowrestore.image_writing import write_rgb

    for result, path in zip(results, paths):
        if path is not None:
            write_rgb(path, draw_frames(result.measurement.clamp(0, 1), result.faces), overwrite=force)
