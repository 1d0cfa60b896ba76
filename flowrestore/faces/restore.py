"""Face mode: restore each face of a photo at the prior's framing and paste it back.

For each face (found by `detect.find_faces`, or the whole image with `aligned`):
1. its frame (framing.frame_of) is cut from the measurement y and resampled to 64x64 (paste.crop);
2. the measurement model follows the resampling: a face s times larger than the frame sees
   noise sigma / s after area averaging and a blur sigma_b / s; an inpainting mask is observed
   where all photo pixels under a frame pixel are;
3. the solver restores it, and it is resampled back and blended into the background (paste.paste):
   the whole image restored as usual, or, with `only_faces`, the measurement untouched.
Observed pixels of an inpainting problem are kept as measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from flowrestore.errors import UsageError
from flowrestore.faces import paste as pasting
from flowrestore.faces.framing import Box, Frame, box_of, frame_of, whole_image_frame
from flowrestore.tasks import TaskSpec

MODES = ("detect", "aligned", "off")


@dataclass(frozen=True)
class FaceOptions:
    """How `restore` treats faces: `mode` detect (look for faces), aligned (the image is one face
    at the prior's framing) or off; `only_faces` leaves everything outside the faces as it was.
    There is no automatic choice: native restoration beat face mode on every measurement
    (docs/faces.md), so face mode is only ever asked for."""

    mode: str = "detect"
    only_faces: bool = False
    min_side: int = 24  # the smallest face box looked for, in photo pixels
    detail: bool = True  # keep the whole-image restoration's detail finer than the frame (paste.paste)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"face mode must be one of {', '.join(MODES)}, got {self.mode!r}")


@dataclass(frozen=True)
class Face:
    """One face restored in face mode: where it was found, its frame, and the 64x64 restoration."""

    box: Box
    frame: Frame
    restored: Tensor  # (3, 64, 64)


def face_task(task: TaskSpec, scale: float) -> TaskSpec:
    """The measurement model seen at the prior's framing, for a face `scale` photo pixels per frame pixel."""
    if task.task == "denoise":
        return replace(task, noise_sigma=task.noise_sigma / max(scale, 1.0))
    if task.task == "deblur":
        return replace(task, blur_sigma=task.blur_sigma / scale)
    return task


def frames_for(y: Tensor, options: FaceOptions, noise_sigma: float) -> list[tuple[Box, Frame]]:
    """The faces to restore in the measurement y (3, H, W): detected, or the whole image when aligned."""
    height, width = y.shape[-2:]
    if options.mode == "aligned":
        frame = whole_image_frame(width, height)
        return [(box_of(frame), frame)]
    from flowrestore.faces.detect import find_faces

    pixels = (y.detach().cpu().clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    boxes = find_faces(pixels, min_side=options.min_side, noise_sigma=noise_sigma)
    return [(box, frame_of(box)) for box in boxes]


Solve = Callable[[Tensor, TaskSpec, "Tensor | None", "float | None"], Tensor]


def restore_faces(
    solve: Solve,
    y: Tensor,
    base: Tensor,
    faces: list[tuple[Box, Frame]],
    task: TaskSpec,
    mask: Tensor | None = None,
    sigma: float | None = None,
    feather: bool = True,
    detail: bool = False,
) -> tuple[Tensor, list[Face]]:
    """`base` (3, H, W) with each face of the measurement `y` (3, H, W) restored at the prior's
    framing and pasted in; `solve(y64, task64, mask64, sigma64)` restores a (1, 3, 64, 64) face.
    `mask` (H, W) is the inpainting mask, 1 = observed; `sigma` the photo's noise level; `detail`
    keeps the base's detail finer than the prior's frame (paste.paste)."""
    out = base[None]
    restored: list[Face] = []
    observed = None if mask is None else mask.reshape(1, 1, *mask.shape[-2:]).to(y)
    for box, frame in faces:
        scale = frame.scale
        y64 = pasting.crop(y[None], frame)
        mask64 = None if observed is None else pasting.crop_mask(observed, frame)[0, 0]
        level = None if sigma is None else sigma / max(scale, 1.0)
        x64 = solve(y64, face_task(task, scale), mask64, level)
        out = pasting.paste(out, x64, frame, feather=feather, detail=detail)
        restored.append(Face(box=box, frame=frame, restored=x64[0]))
    if observed is not None:
        out = torch.where(observed > 0.5, y[None], out)
    return out[0], restored


def with_faces(model: nn.Module, y: Tensor, base: Tensor, task: TaskSpec, mask: Tensor | None,
               options: FaceOptions, sigma: float | None) -> tuple[Tensor, tuple[Face, ...]]:
    """`base` (3, H, W) with the faces of the measurement y (3, H, W) restored by `model` at the
    prior's framing and pasted in; `mask` (H, W) as restore_images takes it, `sigma` the noise
    level a noise-conditioned model restores the photo at."""
    from flowrestore.solving import observed_mask, solve

    noise = sigma if sigma is not None else (task.noise_sigma if task.task == "denoise" else 0.0)
    found = frames_for(y, options, noise)
    if not found:
        return base, ()
    device = next(model.parameters()).device

    def solve_face(y64: Tensor, task64: TaskSpec, mask64: Tensor | None, sigma64: float | None) -> Tensor:
        return solve(model, y64.to(device), task64, mask64, sigma=sigma64).cpu()

    observed = observed_mask(task, mask, *y.shape[-2:])
    image, restored = restore_faces(solve_face, y.cpu(), base, found, task,
                                    None if observed is None else observed[0, 0].cpu(), sigma,
                                    feather=options.mode != "aligned", detail=options.detail and not options.only_faces)
    return image, tuple(restored)


def wanted(options: FaceOptions | None, height: int, width: int) -> bool:
    """Whether face mode applies to an image of this size (it does whenever it was asked for)."""
    return options is not None and options.mode != "off"


