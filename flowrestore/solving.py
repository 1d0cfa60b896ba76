"""One solve: measurement -> operator -> padding -> solver -> crop, for a batch of one size.

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
- A measurement read from a file is clipped to [0, 1]; with `clipped`, its pixels at 0 or 1 enter
  the data step through the censored likelihood (flowrestore.operators.censored) at the noise level
  the image is restored at, so that clipping does not bias the restoration towards grey.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from flowrestore.errors import MaskSizeError, UsageError
from flowrestore.operators import CENTRE, TaskSpec, centre_box_mask, measure_each, with_storage
from flowrestore.operators.censored import censored


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


def counts_storage(model: nn.Module) -> bool:
    """Whether the noise level `model` is told includes its measurement's rounding (docs/method.md)."""
    return bool(getattr(getattr(model, "config", None), "storage_noise", False))


def sigma_floor(model: nn.Module) -> float:
    """The lowest noise level a noise-conditioned model's folds run at (SolverConfig.sigma_floor): the
    bottom of the range it was trained on; 0 for models without one."""
    return float(getattr(getattr(model, "config", None), "sigma_floor", 0.0))


def told_sigma(model: nn.Module, noise_sigma, eight_bit: bool):
    """The noise level to give `model` for measurements with Gaussian noise `noise_sigma` (a number,
    one per image, or None for none), stored as an 8-bit file or as float32 values: the noise itself,
    or for a model that counts storage (flowrestore.operators.with_storage), the two together."""
    if not counts_storage(model):
        return noise_sigma
    return with_storage(0.0 if noise_sigma is None else noise_sigma, eight_bit)


def solve(model: nn.Module, y: Tensor, task: TaskSpec, mask: Tensor | None = None, sigma=None,
          clipped: bool = False) -> Tensor:
    """x_hat (B, 3, H, W) in [0, 1] from measurements y (B, 3, H, W) of any size; `sigma` (a number
    or one per image) is the noise level a noise-conditioned model restores at. With `clipped` (y as
    a file holds it), pixels at 0 or 1 are censored at `sigma`, else at the task's noise level."""
    height, width = y.shape[-2:]
    pads = padding(height, width, model.size_multiple)
    observed = observed_mask(task, mask, height, width)
    if observed is not None:
        observed = observed.to(y.device)
        y = torch.where(observed > 0.5, y, torch.full_like(y, CENTRE))
        observed = pad(observed, pads)
    operator = task.operator(height + pads[2] + pads[3], width + pads[0] + pads[1], observed).to(y.device)
    if clipped:
        operator = censored(operator, sigma if sigma is not None else task.noise_sigma)
    with torch.no_grad():
        x_hat = model(pad(y, pads), operator, sigma=sigma) if noise_conditioned(model) else model(pad(y, pads), operator)
    return crop(x_hat, pads).clamp(0, 1)
