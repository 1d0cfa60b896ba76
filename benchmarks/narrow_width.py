"""Which holes restore should leave to the inpainting model: the width rule of flowrestore.narrow_holes.

    PYTHONPATH=. python3 benchmarks/narrow_width.py --images 48 --widths 11 15 19 23

A hole pixel is narrow when no W x W square of hole pixels covers it; restore fills the narrow pixels
by biharmonic interpolation and leaves the rest to the model (a mask whose every hole is narrow is not
given to the model). For each hole of benchmarks/inpaint_holes.py (the same faces, seeds and holes),
the PSNR of the model alone and of that rule at each W, with the mean paired difference against the
model alone and the share of faces where the rule is better; last, the bundled example whose eyes and
nose were erased (examples/face_erased.png against examples/face.png).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from inpaint_holes import HOLES, SIZE

from flowrestore.checkpoints import load
from flowrestore.image_folders import image_files, read_square
from flowrestore.imageio import alpha_mask, read_image
from flowrestore.metrics import psnr_each
from flowrestore.narrow_holes import fill_narrow, find
from flowrestore.operators import CENTRE, TaskSpec
from flowrestore.solving import solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".data/val"))
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--checkpoint", default="glow-inpaint")
    parser.add_argument("--widths", type=int, nargs="+", default=[11, 15, 19, 23])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--holes", nargs="*", default=None, help="only these rows of HOLES (none: only the example)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load(args.checkpoint, kind="solver").model
    faces = [read_square(path, "RGB", SIZE).astype(np.float32) / 255.0
             for path in image_files(args.data)[: args.images]]
    print(f"| hole | {args.checkpoint} alone | " + " | ".join(f"W = {w}" for w in args.widths) + " |")
    print("|---|---|" + "---|" * len(args.widths))
    print("| (dB: mean (median); W: mean, paired difference, share better) | |" + " |" * len(args.widths))
    for name, make in HOLES.items():
        if args.holes is not None and name not in args.holes:
            continue
        rng = np.random.default_rng(0)
        alone, rule = [], {w: [] for w in args.widths}
        for face in faces:
            mask = torch.from_numpy(make(rng))
            x = torch.from_numpy(face).permute(2, 0, 1)[None]
            y = torch.where(mask > 0.5, x, torch.full_like(x, CENTRE))
            glow = solve(model, y, TaskSpec("inpaint"), mask)
            alone.append(float(psnr_each(glow, x)[0]))
            for w in args.widths:
                start = y if find(mask, w)[1] else glow  # a mask of narrow holes only skips the model
                rule[w].append(float(psnr_each(fill_narrow(start, mask, w)[0], x)[0]))
        base = np.array(alone)
        cells = [f"{np.mean(v):.2f} ({np.median(v):.2f}), {np.mean(np.array(v) - base):+.2f}, "
                 f"{np.mean(np.array(v) > base):.0%}" for v in rule.values()]
        print(f"| {name} | {base.mean():.2f} ({np.median(base):.2f}) | " + " | ".join(cells) + " |", flush=True)
    # The bundled example whose eyes and nose were erased (a 16x24 hole that hides features)
    examples = Path(__file__).resolve().parents[1] / "examples"
    erased = read_image(examples / "face_erased.png")
    x = read_image(examples / "face.png").rgb[None]
    mask = alpha_mask(erased)
    y = torch.where(mask > 0.5, x, torch.full_like(x, CENTRE))
    glow = solve(model, y, TaskSpec("inpaint"), mask)
    scores = [float(psnr_each(fill_narrow(y if find(mask, w)[1] else glow, mask, w)[0], x)[0]) for w in args.widths]
    print(f"| examples/face_erased.png | {float(psnr_each(glow, x)[0]):.2f} | " + " | ".join(f"{v:.2f}" for v in scores)
          + " |")


if __name__ == "__main__":
    main()
