"""Measurement operators (A and its adjoint) and seeded measurements; TaskSpec (flowrestore.tasks)."""

from __future__ import annotations

from flowrestore.operators.base import CENTRE, LastFoldOperator, LinearOperator
from flowrestore.operators.blur import Blur, gaussian_kernel
from flowrestore.operators.denoise import Denoise
from flowrestore.operators.inpaint import Inpaint, centre_box_mask
from flowrestore.operators.measurement import (
    STORAGE_SIGMA,
    gaussian_noise,
    image_seed,
    measure,
    measure_each,
    quantize_8bit,
    with_storage,
)
from flowrestore.tasks import TASKS, TaskSpec

__all__ = [
    "TASKS",
    "TaskSpec",
    "Blur",
    "Denoise",
    "Inpaint",
    "CENTRE",
    "LastFoldOperator",
    "LinearOperator",
    "centre_box_mask",
    "gaussian_kernel",
    "gaussian_noise",
    "image_seed",
    "measure",
    "measure_each",
    "quantize_8bit",
    "STORAGE_SIGMA",
    "with_storage",
]
