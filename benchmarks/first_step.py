"""What the first steps of a continuation do to a shipped model, with and without a warm-up.

    PYTHONPATH=. python3 benchmarks/first_step.py --name glow-denoise --warmup 0 20 --steps 1 5 10 20 30 40

Builds exactly the continue-and-ship pipeline's CPU run (flowrestore.shipping.continuation: its
recipe, task options and start from the shipped file), then takes training steps and prints the
loop's own validation PSNR (the first --val-limit validation faces, fixed noise) after each count
in --steps, one JSON line per warm-up. Adam's first step moves every weight by the learning rate
(m/sqrt(v) = +-1), which is what a warm-up scales down.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from flowrestore.shipping.continuation import RECIPES, common_settings, continuation_config, shipped_files
from flowrestore.training.distributed import Context
from flowrestore.training.finetune import FinetuneObjective

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="glow-denoise")
    ap.add_argument("--data", type=Path, default=ROOT / ".data", help="a folder holding train/ and val/")
    ap.add_argument("--warmup", type=int, nargs="+", default=[0, 20])
    ap.add_argument("--steps", type=int, nargs="+", default=[1, 5, 10, 20])
    ap.add_argument("--lr", type=float, default=None, help="the flows' learning rate (default: the CPU recipe's)")
    ap.add_argument("--val-limit", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    entry, shipped, prior = shipped_files(ROOT, args.name)
    base = RECIPES[("cpu", "solver")]
    for warmup in args.warmup:
        recipe = replace(base, lr=args.lr or base.lr, warmup_steps=warmup, val_limit=args.val_limit)
        common = common_settings(recipe, args.data, Path("/tmp/first-step-unused"), 1.0, "cpu")
        config = continuation_config(entry, shipped, prior, recipe, common, shipped)
        objective = FinetuneObjective(config, Context(device=torch.device("cpu"), rank=0, world_size=1))
        psnr = {0: round(objective.evaluate()["val_psnr"], 3)}
        for step in range(max(args.steps)):
            objective.train_step(step)
            if step + 1 in args.steps:
                psnr[step + 1] = round(objective.evaluate()["val_psnr"], 3)
        print(json.dumps({"name": args.name, "lr": recipe.lr, "warmup": warmup, "batch": recipe.batch_size,
                          "val_images": args.val_limit, "psnr_after_steps": psnr}), flush=True)


if __name__ == "__main__":
    main()
