"""Time and peak memory of `flowrestore restore` on one large photo, restored in tiles.

    PYTHONPATH=. python3 benchmarks/large_image.py --width 4000 --height 3000 --task denoise

Builds a synthetic photo (a smooth background with CelebA faces from the bundled examples,
scaled up to several sizes and pasted at several places), saves it as PNG, and runs the CLI on it
in a subprocess with --degrade (so the noise is simulated and PSNR printed). Reports the wall
time of the subprocess and its peak resident set size (the kernel's ru_maxrss of the child),
which counts everything: Python, PyTorch, the decoded image, the tiles and the written file.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

FACES = Path(__file__).resolve().parents[1] / "flowrestore" / "data" / "celeba"


def synthetic_photo(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = np.stack(
        [
            0.45 + 0.25 * np.sin(xx / width * 3.0 + 0.5),
            0.40 + 0.20 * np.cos(yy / height * 2.0),
            0.50 + 0.15 * np.sin((xx + yy) / (width + height) * 5.0),
        ],
        axis=-1,
    )
    photo = Image.fromarray((background.clip(0, 1) * 255).astype(np.uint8))
    faces = sorted(FACES.glob("*.png"))
    for i in range(12):
        face = Image.open(faces[i % len(faces)]).convert("RGB")
        side = int(rng.choice([64, 128, 256, 512]))
        face = face.resize((side, side), Image.BICUBIC)
        photo.paste(face, (int(rng.integers(0, width - side)), int(rng.integers(0, height - side))))
    return photo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--task", default="denoise")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of the restore")
    parser.add_argument("--keep", type=Path, help="keep the photo and its restoration in this folder")
    parser.add_argument("cli_args", nargs="*", help="more options for flowrestore restore (after --)")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="flowrestore-large-"))
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"photo-{args.width}x{args.height}.png"
    synthetic_photo(args.width, args.height).save(source)
    command = [
        sys.executable, "-m", "flowrestore", "restore", str(source), "--task", args.task, "--device", "cpu",
        "--degrade", "--force", "--output", str(folder / f"restored-{args.width}x{args.height}.png"), *args.cli_args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: kB
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS={args.threads}")
    print(" ".join(command[1:]))
    print(done.stdout.strip())
    print(done.stderr.strip())
    print("\n| image | task | options | exit | wall time s | peak RSS MB |\n|---|---|---|---|---|---|")
    print(
        f"| {args.width}x{args.height} | {args.task} | {' '.join(args.cli_args) or 'defaults'} | {done.returncode} "
        f"| {seconds:.0f} | {peak_mb:.0f} |"
    )
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
