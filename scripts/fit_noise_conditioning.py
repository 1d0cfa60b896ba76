"""Make a shipped denoiser noise-conditioned: learn how its step sizes and shrinkages follow sigma.

    python scripts/fit_noise_conditioning.py --start flowrestore/weights/glow-denoise.safetensors \\
        --out /work/state/sigma-fit --minutes 25

Only the slopes b_k, d_k of mu_k(sigma) = softplus(a_k + b_k log(sigma / 0.2)) and
lambda_k(sigma) = softplus(c_k + d_k log(sigma / 0.2)) train (flows, a_k and c_k frozen), on
sigma ~ U(0.02, 0.3), half of the measurements 8-bit clipped; so at sigma = 0.2 the model is
the start model exactly. A second call resumes. The run's best.safetensors is the candidate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from flowrestore.operators import TaskSpec
from flowrestore.training import FinetuneConfig, LoopConfig, finetune

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--data", type=Path, default=ROOT / ".data")
    ap.add_argument("--low", type=float, default=0.02)
    ap.add_argument("--high", type=float, default=0.3)
    ap.add_argument("--trainable", default="slopes", choices=["slopes", "fold-parameters", "all"])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    resume = (args.out / "state.safetensors").exists()
    config = FinetuneConfig(
        train_dir=args.data / "train", val_dir=args.data / "val", task=TaskSpec.default("denoise"), out_dir=args.out,
        prior=ROOT / "flowrestore/weights/celeba-prior.safetensors", init_from=None if resume else args.start,
        sigma_range=(args.low, args.high), eight_bit_fraction=0.5, trainable=args.trainable, lr=1e-4,
        lr_scalars=1e-2, memory_saving=False, val_limit=96, device="cpu",
        loop=LoopConfig(batch_size=8, time_limit=args.minutes * 60, eval_every=40, patience=1_000_000, seed=2),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out.parent / f"{args.out.name}.log").open("a") as log:
        result = finetune(config, resume=resume, callback=lambda e: log.write(json.dumps(e, default=str) + "\n"))
    print(json.dumps({"best": result.best, "resumed": resume}, default=str))


if __name__ == "__main__":
    main()
