"""Choosing each classical method's parameter by a small grid search on validation images.

Run once at the Table I settings; the winners are stored as constants (`classical.TUNED`) so
the benchmark never tunes on test images. The denoisers' strengths are multiples of sigma,
so one choice serves every noise level. The choice is the first grid value within 0.05 dB of the
best mean PSNR; every grid runs from the weakest (cheapest) setting up, so near-ties go to the
milder, cheaper parameter rather than to noise in the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from flowrestore.benchmark import classical, metrics
from flowrestore.benchmark.datasets import ImageSet
from flowrestore.errors import UsageError
from flowrestore.operators import TaskSpec, measure_each

TOLERANCE_DB = 0.05

# method -> (parameter, grid from weakest to strongest, builder(value, noise sigma) -> restorer)
GRIDS: dict[str, tuple[str, tuple[float, ...], Callable]] = {
    "tv": ("weight_per_sigma", (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0), lambda v, s: classical.tv(s, v)),
    "nlm": ("h_per_sigma", (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0), lambda v, s: classical.nlm(s, v)),
    "wiener": ("balance", tuple(10.0**e for e in range(-10, -1)), lambda v, s: classical.wiener(v)),
    "richardson-lucy": ("num_iter", (30, 100, 300, 1000, 3000), lambda v, s: classical.richardson_lucy(int(v))),
}


@dataclass(frozen=True)
class Tuning:
    method: str
    parameter: str
    values: tuple[float, ...]
    psnr: tuple[float, ...]  # mean PSNR over the images, per value

    @property
    def best(self) -> float:
        """The first value within TOLERANCE_DB of the highest mean PSNR."""
        top = np.nanmax(self.psnr)
        return next(v for v, p in zip(self.values, self.psnr) if p >= top - TOLERANCE_DB)


def tune(
    method: str,
    images: ImageSet,
    values: tuple[float, ...] | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> Tuning:
    """Mean PSNR of `method` for every grid value, at its task's Table I setting."""
    if method not in GRIDS:
        raise UsageError(f"nothing to tune for {method!r}; tunable: {', '.join(GRIDS)}")
    parameter, grid, make = GRIDS[method]
    spec = TaskSpec.default(classical.CLASSICAL[method].task)
    x = images.images
    op = spec.operator(x.shape[-2], x.shape[-1])
    y = measure_each(x, op, spec.noise_sigma, images.seeds)
    scores = []
    for value in values or grid:
        psnr = float(np.mean([p for p, _ in metrics.score(make(value, spec.noise_sigma)(y, op), x)]))
        scores.append(psnr)
        if progress is not None:
            progress(value, psnr)
    return Tuning(method, parameter, tuple(values or grid), tuple(scores))
