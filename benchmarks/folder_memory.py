"""Peak memory and time of `flowrestore restore` over a folder of photos, as the folder grows.

    PYTHONPATH=. python3 benchmarks/folder_memory.py --count 4 16 --width 1000 --height 750

Writes --count noisy synthetic photos (a smooth colour field plus noise sigma 0.1, seeded) into a
temporary folder, and a tiny untrained 2-fold denoiser beside them, so that the solver costs little
and what grows with the folder is what restore keeps of its images. Then restores the folder in a
child process (`python3 -m flowrestore restore FOLDER -o OUT --checkpoint TINY --sigma 0.1`, one
thread) and reports the child's peak resident memory (getrusage) and wall time for each count.
Restore reads, restores and writes a chunk of inputs at a time (flowrestore.file_chunks), so the peak
should not grow with the count; before that it held every input and result until the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def photos(folder: Path, count: int, width: int, height: int) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    for i in range(count):
        field = np.stack([0.5 + 0.3 * np.sin(6 * xx + i), 0.5 + 0.3 * np.cos(5 * yy + i), 0.5 + 0.2 * xx], -1)
        noisy = np.clip(field + 0.1 * rng.standard_normal(field.shape), 0, 1)
        Image.fromarray((noisy * 255 + 0.5).astype(np.uint8)).save(folder / f"photo{i:03d}.png")


def tiny_denoiser(path: Path) -> None:
    import torch

    from flowrestore.flow import Glow, preset
    from flowrestore.operators import TaskSpec
    from flowrestore.serialization import save_model
    from flowrestore.solver import SolverConfig, UnrolledSolver

    prior = Glow(preset("tiny"))
    with torch.no_grad():
        prior(torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)))  # ActNorm initialised
    solver = UnrolledSolver.from_prior(prior, SolverConfig(folds=2)).eval()
    save_model(path, solver, extra={"task": TaskSpec.default("denoise").to_dict()})


def restore(folder: Path, checkpoint: Path, out: Path) -> tuple[float, float]:
    """(peak resident MB of the child, wall seconds)."""
    command = [sys.executable, "-m", "flowrestore", "restore", str(folder), "-o", str(out), "--task", "denoise",
               "--checkpoint", str(checkpoint), "--sigma", "0.1", "--device", "cpu", "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stderr=subprocess.DEVNULL)  # notes: "unlike the faces"
    seconds = time.perf_counter() - started
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=750)
    args = parser.parse_args()
    print("| photos | pixels | peak resident memory | wall time |\n|---|---|---|---|")
    for count in sorted(args.count):  # ru_maxrss of the children is a running maximum: smallest first
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "photos"
            folder.mkdir()
            photos(folder, count, args.width, args.height)
            tiny_denoiser(Path(tmp) / "tiny.safetensors")
            peak, seconds = restore(folder, Path(tmp) / "tiny.safetensors", Path(tmp) / "out")
            print(f"| {count} | {args.width}x{args.height} | {peak:.0f} MB | {seconds:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
