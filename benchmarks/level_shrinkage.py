"""Ablation: one shrinkage lambda per fold (the paper) against one per fold and latent level.

    PYTHONPATH=. python3 benchmarks/level_shrinkage.py --arm level --minutes 45 --out /work/state/ablation
    PYTHONPATH=. python3 benchmarks/level_shrinkage.py --arm scalar --minutes 45 --out /work/state/ablation

Each arm trains the shipped model (--name, default glow-denoise) further with exactly the
continue-and-ship pipeline's CPU recipe and task options (flowrestore.shipping.continuation), from
the same file and seed, for the same wall-clock time; the only difference is
FinetuneConfig.level_shrinkage (the per-level arm starts each level's lambda at its fold's
lambda, so both start from the same function). Run the two arms side by side so that they share
the machine alike. Each prints one JSON line: steps, the start file's and the run's best
validation PSNR on all of celeba64/val (the benchmark's protocol), and the learned lambdas.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from flowrestore.serialization import load_model
from flowrestore.shipping.continuation import RECIPES, common_settings, continuation_config, shipped_files
from flowrestore.shipping.scores import solver_score
from flowrestore.training import finetune

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", choices=("scalar", "level"), required=True)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default="glow-denoise")
    parser.add_argument("--data", type=Path, default=ROOT / ".data")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    entry, shipped, prior = shipped_files(ROOT, args.name)
    recipe = RECIPES[("cpu", "solver")]
    run_dir = args.out / args.arm
    common = common_settings(recipe, args.data, run_dir, args.minutes * 60, "cpu")
    config = replace(continuation_config(entry, shipped, prior, recipe, common, shipped),
                     level_shrinkage=args.arm == "level")
    result = finetune(config)
    val = str(args.data / "val")
    score = lambda path: solver_score(path, entry.name, entry.task_name, val)  # noqa: E731
    best = load_model(result.best_path).model
    print(json.dumps({
        "arm": args.arm, "name": args.name, "steps": result.step, "seconds": round(result.seconds, 1),
        "val_psnr_start": round(score(shipped).value, 3), "val_psnr_best": round(score(result.best_path).value, 3),
        "best": str(result.best_path), "shrinkage": [[round(v, 4) for v in row] for row in
                                                     best.shrinkage.reshape(best.config.folds, -1).tolist()],
        "step_size": [round(v, 4) for v in best.step_size.tolist()],
    }), flush=True)


if __name__ == "__main__":
    main()
