"""Fine-tune a shipped GLOW task model further on the CPU, in timed sessions that resume exactly.

    python scripts/continue_on_cpu.py --task inpaint --minutes 50          # first session: starts from the shipped file
    python scripts/continue_on_cpu.py --task inpaint --minutes 50          # later sessions: resume runs/cpu-inpaint
    python scripts/export_fp16.py runs/cpu-inpaint/best.safetensors flowrestore/weights/glow-inpaint.safetensors

The recipe of the shipped models' CPU continuation (docs/training.md): batch 8, Adam 1e-4 for
the flows and 1e-2 for mu and lambda, plain autograd, validation on the first 48 celeba64/val
images every 40 steps, best kept. One thread: two of these run side by side on two cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from flowrestore.operators import TaskSpec
from flowrestore.training import FinetuneConfig, LoopConfig, finetune


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, choices=["denoise", "inpaint", "deblur"])
    ap.add_argument("--minutes", type=float, required=True, help="training time of this session")
    ap.add_argument("--out", type=Path, help="run folder (default runs/cpu-<task>)")
    ap.add_argument("--start", type=Path, help="first session only (default: the shipped glow-<task>)")
    ap.add_argument("--data", type=Path, default=Path(".data"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out or Path(f"runs/cpu-{args.task}")
    resume = (out / "state.safetensors").exists()
    start = args.start or Path(f"flowrestore/weights/glow-{args.task}.safetensors")
    config = FinetuneConfig(
        train_dir=args.data / "train", val_dir=args.data / "val", task=TaskSpec.default(args.task), out_dir=out,
        prior=Path("flowrestore/weights/celeba-prior.safetensors"),
        init_from=None if resume else start,  # a resumed run takes every weight from its state
        lr=1e-4, memory_saving=False, val_limit=48, device="cpu",
        loop=LoopConfig(batch_size=8, time_limit=args.minutes * 60, eval_every=40, patience=100, seed=1),
    )
    out.mkdir(parents=True, exist_ok=True)
    with (out.parent / f"{out.name}.log").open("a") as log:
        result = finetune(config, resume=resume, callback=lambda e: log.write(json.dumps(e, default=str) + "\n"))
    print(json.dumps({"best": result.best, "resumed": resume}, default=str))


if __name__ == "__main__":
    main()
