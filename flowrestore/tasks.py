"""A restoration task as plain values (which operator, its parameters, the noise level).

Importing this module does not import torch (the CLI's --help and `checkpoints list` stay fast);
`TaskSpec.operator` builds the torch operator when asked.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from flowrestore.errors import UsageError

if TYPE_CHECKING:
    from torch import Tensor

    from flowrestore.operators.base import LinearOperator

TASKS = ("denoise", "inpaint", "deblur")
MAX_KERNEL = 121  # taps of the widest blur allowed, sigma_b = 20: 2*ceil(3*20)+1
BOUNDARIES = ("zero", "periodic")  # of the blur: zero padding of the centred image, or circular


@dataclass(frozen=True)
class TaskSpec:
    """What the paper calls a setting: denoise sigma=0.2, inpaint 19x19 centre box, deblur sigma_b=5.

    Inpainting and deblurring are noise-free by default, as in the paper. Deblurring defaults to
    the paper's operator: a 5x5 Gaussian with zero padding of the centred image
    (`blur_kernel=0` means 2*ceil(3*sigma_b)+1 taps).
    """

    task: str = "denoise"
    noise_sigma: float = 0.0
    box: int = 19
    blur_sigma: float = 5.0
    blur_kernel: int = 5
    blur_boundary: str = "zero"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise UsageError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if not 0 <= self.noise_sigma < 1:
            raise UsageError(f"noise sigma must lie in [0, 1) (pixel values in [0, 1]), got {self.noise_sigma}")
        if self.task == "deblur" and not 0 < self.blur_sigma <= 20:
            raise UsageError(f"blur sigma must lie in (0, 20], got {self.blur_sigma}")
        if self.blur_kernel < 0 or self.blur_kernel > MAX_KERNEL or (self.blur_kernel and self.blur_kernel % 2 == 0):
            raise UsageError(f"the blur kernel size must be odd and at most {MAX_KERNEL} (the widest blur's "
                             f"2*ceil(3*20)+1), or 0 for 2*ceil(3*sigma)+1; got {self.blur_kernel}")
        if self.blur_boundary not in BOUNDARIES:
            raise UsageError(f"unknown blur boundary {self.blur_boundary!r}; choose one of {', '.join(BOUNDARIES)}")
        if self.task == "inpaint" and self.box < 1:
            raise UsageError(f"mask box must be at least 1 pixel, got {self.box}")

    @classmethod
    def default(cls, task: str) -> "TaskSpec":
        """The paper's Table I setting for `task`."""
        return {
            "denoise": cls("denoise", noise_sigma=0.2),
            "inpaint": cls("inpaint", box=19),
            "deblur": cls("deblur", blur_sigma=5.0),
        }[cls(task).task]

    @classmethod
    def from_dict(cls, values: dict) -> "TaskSpec":
        """A TaskSpec from checkpoint metadata or a registry row.

        Records written before the blur options existed (no `blur_kernel`) describe the old
        operator: a periodic blur with 2*ceil(3*sigma_b)+1 taps.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown task field(s) {', '.join(unknown)}")
        values = dict(values)
        if values.get("task") == "deblur" and "blur_kernel" not in values and "blur_boundary" not in values:
            values.update(blur_kernel=0, blur_boundary="periodic")
        return cls(**values)

    @property
    def kernel_size(self) -> int:
        """The blur kernel's side in pixels."""
        return self.blur_kernel or 2 * math.ceil(3 * self.blur_sigma) + 1

    def operator(self, height: int, width: int, mask: Tensor | None = None) -> LinearOperator:
        """A for an H x W image; `mask` (1 = observed) replaces the centre box when inpainting."""
        from flowrestore.operators import Blur, Denoise, Inpaint, centre_box_mask

        if self.task == "denoise":
            return Denoise()
        if self.task == "inpaint":
            return Inpaint(mask) if mask is not None else Inpaint(centre_box_mask(height, width, self.box))
        return Blur(self.blur_sigma, self.kernel_size, self.blur_boundary)

    def same_operator(self, other: "TaskSpec") -> bool:
        """Whether the two specs measure with the same A (the noise level aside)."""
        a, b = self.to_dict(), other.to_dict()
        keys = {"denoise": (), "inpaint": ("box",), "deblur": ("blur_sigma", "blur_kernel", "blur_boundary")}
        return a["task"] == b["task"] and all(a[k] == b[k] for k in keys[self.task])

    def label(self) -> str:
        if self.task == "denoise":
            return f"denoise sigma={self.noise_sigma:g}"
        noise = f", noise {self.noise_sigma:g}" if self.noise_sigma else ""
        if self.task == "inpaint":
            return f"inpaint {self.box}x{self.box}{noise}"
        blur = "" if (self.blur_kernel, self.blur_boundary) == (5, "zero") else f" ({self.kernel_size}x{self.kernel_size} {self.blur_boundary})"
        return f"deblur sigma_b={self.blur_sigma:g}{blur}{noise}"

    def to_dict(self) -> dict:
        return asdict(self)
