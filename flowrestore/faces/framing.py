"""Where a detected face sits in the prior's 64x64 frame, measured on celeba64 itself.

OpenCV's frontal-face cascade (flowrestore.faces.detect), run on the 486 celeba64/val faces
(upscaled to 192 px and set on a grey canvas, so that the whole head is visible), returns a square
box whose centre lies at (32.0, 35.3) and whose side is 42.2 in the frame's 64-pixel units
(standard deviation 2 px for the centre, 4 px for the side; the same at 128 and 320 px).
`benchmarks/face_framing.py` measures it; docs/faces.md records the run. Inverting that relation
turns a box found in a photo into the square of the photo that the training faces would have
shown: about 1.52 times the box, its centre 3.3 / 42.2 of a box above the box's centre.
The module itself uses neither torch nor OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass

FRAME = 64  # the prior's image size
BOX_CENTRE = (32.0, 35.3)  # (x, y) of the detector's box centre in the 64x64 training frame
BOX_SIDE = 42.2  # the detector's box side in the same units


@dataclass(frozen=True)
class Box:
    """A detected face, in photo pixels: left, top, width, height."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Frame:
    """A square of the photo that maps onto the prior's 64x64 frame: left, top and side in pixels
    (floats; it may reach past the photo's edges)."""

    x: float
    y: float
    side: float

    @property
    def scale(self) -> float:
        """Photo pixels per frame pixel: above 1 when the face is larger than the prior's frame."""
        return self.side / FRAME

    def rounded(self) -> tuple[int, int, int]:
        """(left, top, side) in whole pixels."""
        side = max(1, round(self.side))
        return round(self.x), round(self.y), side


def frame_of(box: Box) -> Frame:
    """The square of the photo in which `box` sits as the detector's box sits in a training face."""
    side = (box.width + box.height) / 2
    unit = side / BOX_SIDE  # photo pixels per frame pixel
    centre_x, centre_y = box.x + box.width / 2, box.y + box.height / 2
    return Frame(centre_x - BOX_CENTRE[0] * unit, centre_y - BOX_CENTRE[1] * unit, FRAME * unit)


def box_of(frame: Frame) -> Box:
    """The detector's box that a face framed by `frame` would give: the inverse of `frame_of`."""
    unit = frame.scale
    side = BOX_SIDE * unit
    centre_x, centre_y = frame.x + BOX_CENTRE[0] * unit, frame.y + BOX_CENTRE[1] * unit
    return Box(centre_x - side / 2, centre_y - side / 2, side, side)


def whole_image_frame(width: int, height: int) -> Frame:
    """The frame of an image that is already a face at the prior's framing (--aligned): the
    central square, the whole image when it is square."""
    side = min(width, height)
    return Frame((width - side) / 2, (height - side) / 2, float(side))
