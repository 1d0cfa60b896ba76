"""Write the bundled example measurements from examples/face.png (a celeba64/test face).

    python scripts/make_examples.py

face_noisy.png (sigma 0.2), face_masked.png (the centre 19x19 box, grey) and face_blurred.png (the
paper's 5x5 Gaussian, sigma_b 5, zero padding of the centred image), each at its Table I setting,
and face_blurred_noisy.png (the same blur, then noise of sigma 0.01), each saved as an 8-bit file
(clipped), as users' files are.
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


if __name__ == "__main__":
    main()
