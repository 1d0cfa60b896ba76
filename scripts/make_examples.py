"""Write the bundled example measurements from examples/face.png (a celeba64/test face).

    python scripts/make_examples.py

face_noisy.png (sigma 0.2), face_masked.png (the centre 19x19 box, grey) and face_blurred.png (the
paper's 5x5 Gaussian, sigma_b 5, zero padding of the centred image), each at its Table I setting,
and face_blurred_noisy.png (the same blur, then noise of sigma 0.01), each saved as an 8-bit file
(clipped), as users' files are; face_scratched.png has three white scratches 3 pixels wide erased to
transparency (for --mask alpha).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from flowrestore.operators import TaskSpec, image_seed, measure, quantize_8bit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = {"face_noisy.png": TaskSpec.default("denoise"), "face_masked.png": TaskSpec.default("inpaint"),
         "face_blurred.png": TaskSpec.default("deblur"), "face_blurred_noisy.png": TaskSpec("deblur", noise_sigma=0.01)}


def main() -> None:
    face = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"), dtype=np.float32) / 255
    x = torch.from_numpy(face).permute(2, 0, 1)[None]
    for name, spec in NAMES.items():
        y = quantize_8bit(measure(x, spec.operator(*x.shape[-2:]), spec.noise_sigma, image_seed(name)))
        array = (y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(EXAMPLES / name)
    Image.fromarray(scratched((face * 255).round().astype(np.uint8))).save(EXAMPLES / "face_scratched.png")


SCRATCHES = (((6, 10), (30, 58)), ((40, 4), (52, 44)), ((12, 50), (58, 38)))  # (row, col) ends of each line


def scratched(face: np.ndarray, width: float = 3.0) -> np.ndarray:
    """RGBA: the face with white scratches whose pixels are erased to transparency."""
    rows, cols = np.mgrid[0 : face.shape[0], 0 : face.shape[1]]
    hit = np.zeros(face.shape[:2], bool)
    for (r0, c0), (r1, c1) in SCRATCHES:
        t = np.clip(((rows - r0) * (r1 - r0) + (cols - c0) * (c1 - c0)) / ((r1 - r0) ** 2 + (c1 - c0) ** 2), 0, 1)
        hit |= np.hypot(rows - (r0 + t * (r1 - r0)), cols - (c0 + t * (c1 - c0))) <= width / 2
    rgba = np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])
    rgba[hit] = (255, 255, 255, 0)
    return rgba


if __name__ == "__main__":
    main()
