"""Face mode against plain native-resolution restoration, on synthetic photos and a real one.

    PYTHONPATH=. python3 benchmarks/face_mode.py --faces 12 --sizes 96 160 256 --tasks denoise inpaint deblur

Each synthetic photo is one celeba64/val face (validation: settings are chosen here, not on test),
scaled up bicubically to `size` pixels and pasted at a random place into a smooth, textured
background 2.5 times its size. It is degraded at the photo's resolution with the task's default
setting (denoise sigma 0.2, the paper's 5x5 blur, or a box the size of the paper's 19/64 of the
face at its centre), restored with the shipped checkpoint (a) whole, in tiles (--faces off), and
(b) in face mode (--faces detect) with the face pasted as restored at 64 pixels, and (c) with
the whole-image restoration's detail finer than the frame kept (FaceOptions.detail), and scored by PSNR on the face's square and on the whole photo.
Upscaled 64-pixel faces favour any method that works at 64 pixels; the real photo (scikit-image's
`astronaut`, a 512x512 portrait) is there to look at, not to score (it has no clean reference).
Writes a markdown table to stdout and, with --figure, a PNG of the astronaut under each mode.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from flowrestore.checkpoints import default_checkpoint, load
from flowrestore.faces import FaceOptions
from flowrestore.imageio import ImageData
from flowrestore.metrics import psnr
from flowrestore.operators import TaskSpec
from flowrestore.restore import restore_images, side_by_side

VAL = Path(__file__).resolve().parents[1] / ".data" / "val"


def background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 6, size=3)
    smooth = np.stack([0.5 + 0.25 * np.sin(xx / width * 4 + phase[c]) * np.cos(yy / height * 3 + phase[c])
                       for c in range(3)], axis=-1)
    texture = 0.04 * np.sin(xx / 3.0)[..., None] * np.cos(yy / 5.0)[..., None]
    return np.clip(smooth + texture, 0, 1)


def photo(face: Path, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, tuple[int, int]]:
    """(3, H, W) photo and the (left, top) of the pasted face."""
    pixels = np.asarray(Image.open(face).convert("RGB").resize((size, size), Image.BICUBIC), np.float32) / 255
    height, width = int(size * 2.5), int(size * 2.5)
    canvas = background(height, width, rng)
    left, top = int(rng.integers(0, width - size)), int(rng.integers(0, height - size))
    canvas[top : top + size, left : left + size] = pixels
    return torch.from_numpy(canvas.astype(np.float32)).permute(2, 0, 1).contiguous(), (left, top)


def task_for(task: str, size: int) -> TaskSpec:
    spec = TaskSpec.default(task)
    return replace(spec, box=max(1, round(19 * size / 64))) if task == "inpaint" else spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=12)
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 160, 256])
    parser.add_argument("--tasks", nargs="+", default=["denoise", "inpaint", "deblur"])
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    files = sorted(VAL.glob("*.png"))[: args.faces]
    print("| task | face px | mode | PSNR face (dB) | PSNR photo (dB) | faces found | s/photo |")
    print("|---|---|---|---|---|---|---|")
    for task in args.tasks:
        model = load(default_checkpoint(task), task).model
        for size in args.sizes:
            rng = np.random.default_rng(size)
            photos = [photo(f, size, rng) for f in files]
            spec = task_for(task, size)
            for mode, detail in (("off", True), ("detect", False), ("detect", True)):
                face_scores, photo_scores, found, start = [], [], 0, time.perf_counter()
                for seed, (rgb, (left, top)) in enumerate(photos):
                    image = ImageData(rgb=rgb, alpha=None, bit_depth=8, mode="RGB", gray=False, source=f"photo-{seed}")
                    if task == "inpaint":  # the box at the face's centre
                        mask = torch.ones(rgb.shape[-2:])
                        half = spec.box // 2
                        cy, cx = top + size // 2, left + size // 2
                        mask[cy - half : cy - half + spec.box, cx - half : cx - half + spec.box] = 0
                    else:
                        mask = None
                    result = restore_images(model, [image], spec, mask, degrade=True, seeds=[seed],
                                            faces=FaceOptions(mode=mode, detail=detail))[0]
                    out = result.image.rgb
                    face_scores.append(psnr(out[:, top : top + size, left : left + size],
                                            rgb[:, top : top + size, left : left + size]))
                    photo_scores.append(result.psnr)
                    found += len(result.faces)
                seconds = (time.perf_counter() - start) / len(photos)
                label = mode + (" + detail" if detail and mode != "off" else "")
                print(f"| {task} | {size} | {label} | {np.mean(face_scores):.2f} | {np.mean(photo_scores):.2f} "
                      f"| {found}/{len(photos)} | {seconds:.1f} |", flush=True)
    if args.figure is not None:
        astronaut_figure(args.figure)


def astronaut_figure(path: Path) -> None:
    from skimage import data

    rgb = torch.from_numpy(data.astronaut().astype(np.float32) / 255).permute(2, 0, 1).contiguous()
    model = load(default_checkpoint("denoise"), "denoise").model
    spec = TaskSpec.default("denoise")
    panels = []
    for mode, detail in (("off", True), ("detect", False), ("detect", True)):
        result = restore_images(model, [ImageData(rgb=rgb, alpha=None, bit_depth=8, mode="RGB", gray=False, source="astronaut")], spec, degrade=True,
                                seeds=[0], faces=FaceOptions(mode=mode, detail=detail))[0]
        panels = panels or [result.measurement]
        panels.append(result.image.rgb)
    panels.append(rgb)
    Image.fromarray((side_by_side(panels).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)).save(path)


if __name__ == "__main__":
    main()
