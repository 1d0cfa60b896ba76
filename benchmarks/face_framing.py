"""Measure where OpenCV's face detector puts its box in the prior's 64x64 training frame.

    PYTHONPATH=. python3 benchmarks/face_framing.py --data .data/val --side 192

Each celeba64 face is upscaled to `side` pixels (bicubic) and set on a grey canvas twice its size,
so that the detector sees the whole head with room around it; the largest box found is expressed
in the 64-pixel frame. Prints the mean, spread and median of its centre and side, the numbers
flowrestore/faces/framing.py holds (measured at 128, 192 and 320 pixels: docs/faces.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from flowrestore.faces.detect import find_faces
from flowrestore.faces.framing import FRAME


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".data/val"))
    parser.add_argument("--side", type=int, default=192)
    args = parser.parse_args()
    files = sorted(args.data.glob("*.png"))
    side, margin = args.side, args.side // 2
    boxes, missed = [], 0
    for path in files:
        face = np.asarray(Image.open(path).convert("RGB").resize((side, side), Image.BICUBIC))
        canvas = np.full((side + 2 * margin, side + 2 * margin, 3), 128, np.uint8)
        canvas[margin : margin + side, margin : margin + side] = face
        found = find_faces(canvas, min_side=side // 4)
        if not found:
            missed += 1
            continue
        box, unit = found[0], FRAME / side
        boxes.append(((box.x - margin + box.width / 2) * unit, (box.y - margin + box.height / 2) * unit,
                      box.width * unit))
    values = np.array(boxes)
    print(f"{len(files)} faces at {side} px, {missed} without a box")
    for name, column in zip(("centre x", "centre y", "side"), values.T):
        print(f"{name}: mean {column.mean():.2f}, std {column.std():.2f}, median {np.median(column):.2f}")


if __name__ == "__main__":
    main()
