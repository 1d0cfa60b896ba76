"""Time and peak memory of estimating the noise level of one large image (what `restore` does for
each image when no --sigma is given).

    PYTHONPATH=. python3 benchmarks/noise_estimator_cost.py --width 4000 --height 3000 --threads 1

The image is a smooth random texture with noise sigma 0.1, clipped to [0, 1]. Prints one line:
size, the estimate, seconds, and the process's peak resident memory (which includes the image).
`--save FILE.png` also writes the image as an 8-bit file, to time a whole `flowrestore restore` of it.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from flowrestore.noise_level import estimate_sigma


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", type=Path, help="also write the noisy image here as an 8-bit PNG")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, args.height // 16 + 1, args.width // 16 + 1, generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, scale_factor=16, mode="bilinear")[..., : args.height, : args.width]
    y = (smooth + 0.1 * torch.randn(smooth.shape, generator=generator)).clamp(0, 1)
    del coarse, smooth
    if args.save is not None:
        Image.fromarray((y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(args.save)
    start = time.perf_counter()
    sigma = float(estimate_sigma(y)[0])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux -> GiB
    print(f"{args.width}x{args.height}: sigma {sigma:.4f} (true 0.1, clipped), {seconds:.1f} s, "
          f"peak resident memory {peak:.2f} GiB, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
