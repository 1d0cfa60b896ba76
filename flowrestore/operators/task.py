"""A restoration task as plain values (which operator, its parameters, the noise level)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flowrestore.operators.base import LinearOperator
from flowrestore.operators.blur import Blur
from flowrestore.operators.denoise import Denoise
from flowrestore.operators.inpaint import Inpaint

TASKS = ("denoise", "inpaint", "deblur")


@dataclass(frozen=True)
class TaskSpec:
    """What the paper calls a setting: denoise sigma=0.2, inpaint 19x19 centre box, deblur sigma_b=5.

    Inpainting and deblurring are noise-free by default, as in the paper.
    """

    task: str = "denoise"
    noise_sigma: float = 0.0
    box: int = 19
    blur_sigma: float = 5.0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if not 0 <= self.noise_sigma <= 1:
            raise ValueError(f"noise sigma must lie in [0, 1], got {self.noise_sigma}")
        if self.task == "deblur" and not 0 < self.blur_sigma <= 20:
            raise ValueError(f"blur sigma must lie in (0, 20], got {self.blur_sigma}")
        if self.task == "inpaint" and self.box < 1:
            raise ValueError(f"mask box must be at least 1 pixel, got {self.box}")

    @classmethod
    def default(cls, task: str) -> "TaskSpec":
        """The paper's Table I setting for `task`."""
        return {
            "denoise": cls("denoise", noise_sigma=0.2),
            "inpaint": cls("inpaint", box=19),
            "deblur": cls("deblur", blur_sigma=5.0),
        }[cls(task).task]

    def operator(self, height: int, width: int) -> LinearOperator:
        if self.task == "denoise":
            return Denoise()
        if self.task == "inpaint":
            return Inpaint.centre(height, width, self.box)
        return Blur(self.blur_sigma)

    def label(self) -> str:
        if self.task == "denoise":
            return f"denoise sigma={self.noise_sigma:g}"
        noise = f", noise {self.noise_sigma:g}" if self.noise_sigma else ""
        if self.task == "inpaint":
            return f"inpaint {self.box}x{self.box}{noise}"
        return f"deblur sigma_b={self.blur_sigma:g}{noise}"

    def to_dict(self) -> dict:
        return asdict(self)
