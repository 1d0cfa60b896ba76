"""Task models' PSNR on a CUDA device with TF32 convolutions and matrix products on and off.

    PYTHONPATH=. python3 benchmarks/cuda_precision.py --device cuda --limit 128 \
        --models glow-denoise glow-inpaint --files glow-denoise=path/to/candidate.safetensors

TF32 keeps 10 bits of mantissa. A GLOW prox decodes its shrunk latent through the inverse of
every coupling, which can amplify rounding, so the same file may restore worse with TF32 on.
Prints one Markdown row per model and setting (the benchmark's Table I protocol, bundled faces).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from flowrestore.checkpoints import load_registry
from flowrestore.devices import ALLOW_TF32
from flowrestore.shipping.scores import solver_score

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dataset", default="celeba")
    ap.add_argument("--limit", type=int, default=128)
    ap.add_argument("--models", nargs="+", default=["glow-denoise", "glow-inpaint", "glow-deblur"])
    ap.add_argument("--files", nargs="*", default=[], help="NAME=PATH: score another file under a model's entry")
    args = ap.parse_args()
    registry = load_registry(ROOT / "flowrestore" / "checkpoints.toml")
    runs = [(name, ROOT / "flowrestore" / registry[name].file) for name in args.models]
    runs += [(spec.split("=", 1)[0], Path(spec.split("=", 1)[1])) for spec in args.files]
    print("| model | file | TF32 | PSNR (dB) | images |\n|---|---|---|---|---|")
    for name, path in runs:
        for tf32 in (True, False):
            os.environ[ALLOW_TF32] = "1" if tf32 else "0"  # read by pick_device, which the benchmark calls
            score = solver_score(path, name, registry[name].task_name, args.dataset, args.device, args.limit)
            print(f"| {name} | {path.name} | {'on' if tf32 else 'off'} | {score.value:.3f} | {score.images} |",
                  flush=True)


if __name__ == "__main__":
    main()
