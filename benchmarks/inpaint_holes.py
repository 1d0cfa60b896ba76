"""How the shipped inpainter fares on holes other than the paper's centre box (a user's --mask, --mask alpha).

    PYTHONPATH=. python3 benchmarks/inpaint_holes.py --images 48

On the first --images faces of celeba64/val, each kind of hole below is placed at a seeded random
position (the same for every method), the measurement is the face with the hole grey, and each
method fills it: the shipped `glow-inpaint` (trained on the 19x19 centre box, shifted by up to 4
pixels for part of its training); the same with the holes narrower than 11 pixels filled by biharmonic
interpolation, as `flowrestore restore` does by default (flowrestore.narrow_holes; `--narrow-holes
model` is the model alone); and biharmonic inpainting (scikit-image), which needs no training.
Reports the mean PSNR over the whole image, as the benchmark does (an exact fill, which biharmonic
inpainting gives a hole in a flat background, counts as 120 dB), and in brackets the median, which
one such image cannot move.

Holes: squares of 8, 10, 12, 14, 16, 19 and 24 pixels anywhere in the central 48x48 of the frame (where a
face's features are), the 19x19 centre box itself, three strokes (lines 3, 7, 9 or 13 pixels thick, as
a scratch erased in an editor), the centre box with three 3-pixel strokes, and free-form holes (discs,
as a stain or a tear).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from flowrestore.checkpoints import load
from flowrestore.image_folders import image_files, read_square
from flowrestore.metrics import psnr_each
from flowrestore.narrow_holes import fill_narrow, find
from flowrestore.operators import CENTRE, TaskSpec
from flowrestore.restore import solve

SIZE = 64


def square(rng: np.random.Generator, side: int) -> np.ndarray:
    mask = np.ones((SIZE, SIZE), np.float32)
    top, left = rng.integers(8, 56 - side + 1, size=2)
    mask[top : top + side, left : left + side] = 0
    return mask


def centre_box(rng: np.random.Generator) -> np.ndarray:
    mask = np.ones((SIZE, SIZE), np.float32)
    start = (SIZE - 19) // 2
    mask[start : start + 19, start : start + 19] = 0
    return mask


def strokes(rng: np.random.Generator, count: int = 3, width: int = 3) -> np.ndarray:
    mask = np.ones((SIZE, SIZE), np.float32)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for _ in range(count):
        (y0, x0), (y1, x1) = rng.integers(8, 56, size=(2, 2))
        length = max(np.hypot(y1 - y0, x1 - x0), 1.0)
        t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0)) / length**2, 0, 1)
        mask[np.hypot(yy - (y0 + t * (y1 - y0)), xx - (x0 + t * (x1 - x0))) <= width / 2] = 0
    return mask


def discs(rng: np.random.Generator, smallest: float = 3, largest: float = 8, count: int = 3) -> np.ndarray:
    """Free-form holes (a stain, a tear): the union of `count` discs of radius `smallest` to `largest`."""
    mask = np.ones((SIZE, SIZE), np.float32)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for _ in range(count):
        (y, x), radius = rng.integers(12, 52, size=2), rng.uniform(smallest, largest)
        mask[np.hypot(yy - y, xx - x) <= radius] = 0
    return mask


HOLES = {
    "square 8": lambda rng: square(rng, 8),
    "square 10": lambda rng: square(rng, 10),
    "square 12": lambda rng: square(rng, 12),
    "square 14": lambda rng: square(rng, 14),
    "square 16": lambda rng: square(rng, 16),
    "square 19": lambda rng: square(rng, 19),
    "square 24": lambda rng: square(rng, 24),
    "centre box 19 (trained)": centre_box,
    "3 strokes, 3 px": strokes,
    "3 strokes, 7 px": lambda rng: strokes(rng, width=7),
    "3 strokes, 9 px": lambda rng: strokes(rng, width=9),
    "3 strokes, 13 px": lambda rng: strokes(rng, width=13),
    "centre box + 3 strokes, 3 px": lambda rng: np.minimum(centre_box(rng), strokes(rng)),
    "3 discs, radius 3-8 px": discs,
    "3 discs, radius 6-12 px": lambda rng: discs(rng, 6, 12),
    "1 disc, radius 8-14 px": lambda rng: discs(rng, 8, 14, count=1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".data/val"))
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--checkpoint", default="glow-inpaint")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from scipy.stats import t  # (scikit-image's dependency)
    from skimage.restoration import inpaint_biharmonic

    model = load(args.checkpoint, kind="solver").model
    files = image_files(args.data)[: args.images]
    faces = [read_square(path, "RGB", SIZE).astype(np.float32) / 255.0 for path in files]
    print(f"| hole | hole pixels | measurement | biharmonic | {args.checkpoint} | restore's default "
          "(narrow holes biharmonic) | default − model: mean ± 95 % interval, share better |")
    print("|---|---|---|---|---|---|---|")
    print("| (dB: mean (median)) | | | | | | |")
    for name, make in HOLES.items():
        rng = np.random.default_rng(0)
        scores = {"y": [], "biharmonic": [], "glow": [], "hybrid": [], "pixels": []}
        for face in faces:
            mask = make(rng)
            y = np.where(mask[..., None] > 0.5, face, CENTRE)
            x = torch.from_numpy(face).permute(2, 0, 1)
            biharmonic = inpaint_biharmonic(face, mask < 0.5, channel_axis=-1)
            y_t = torch.from_numpy(y).permute(2, 0, 1)[None].float()
            glow = solve(model, y_t, TaskSpec("inpaint"), torch.from_numpy(mask))
            only_narrow = find(torch.from_numpy(mask))[1]  # as restore does: then the model is not run at all
            hybrid = fill_narrow(y_t if only_narrow else glow, torch.from_numpy(mask))[0][0]
            for key, estimate in (("y", y_t[0]), ("biharmonic", torch.from_numpy(biharmonic).permute(2, 0, 1)),
                                  ("glow", glow[0]), ("hybrid", hybrid)):
                scores[key].append(float(psnr_each(estimate[None].float(), x[None])[0]))
            scores["pixels"].append(float((mask < 0.5).sum()))
        shown = [f"{np.mean(scores[k]):.2f} ({np.median(scores[k]):.2f})"
                 for k in ("y", "biharmonic", "glow", "hybrid")]
        gain = np.array(scores["hybrid"]) - np.array(scores["glow"])  # paired: the same faces and holes
        half = t.ppf(0.975, len(gain) - 1) * gain.std(ddof=1) / np.sqrt(len(gain)) if len(gain) > 1 else np.nan
        paired = f"{gain.mean():+.2f} ± {half:.2f}, {np.mean(gain > 0):.0%}" if gain.any() else "0 (the model's)"
        print(f"| {name} | {np.mean(scores['pixels']):.0f} | " + " | ".join(shown) + f" | {paired} |", flush=True)


if __name__ == "__main__":
    main()
