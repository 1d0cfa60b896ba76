"""Train the shipped checkpoints in one timed run: the CelebA prior, then the three task models.

    PYTHONPATH=. python scripts/train_defaults.py --data .data --out OUT --budget 540

Stages share one wall-clock budget (seconds): the prior gets `--prior-share` of it, the
task models split the rest, so a slow machine shortens stages instead of losing results.
Each stage writes its fp16 checkpoint to OUT as soon as it ends, with test-set metrics,
plus a sample grid and a restoration grid to look at. A log of every evaluation goes to
OUT/train_log.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from flowrestore.flow import bits_per_dim
from flowrestore.operators import TaskSpec, measure_each
from flowrestore.tasks import TASKS
from flowrestore.serialization import load_model, save_model
from flowrestore.training import FinetuneConfig, LoopConfig, LoopResult, PretrainConfig, TrainingError, finetune, pretrain
from flowrestore.training.data import load_folder
from flowrestore.training.pretrain import dequantize



def grid(rows: list[torch.Tensor], path: Path) -> None:
    """rows: list of (N, C, H, W) tensors in [0, 1] -> one PNG, one row per tensor."""
    arr = torch.cat([torch.cat(list(r.clamp(0, 1).cpu()), dim=2) for r in rows], dim=1)
    Image.fromarray((arr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(".data"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", type=Path, default=Path("/tmp/flowrestore-runs"))
    ap.add_argument("--budget", type=float, default=540.0)
    ap.add_argument("--prior-share", type=float, default=0.36)
    ap.add_argument("--preset", default="compact")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--prior-batch", type=int, default=128)
    ap.add_argument("--task-batch", type=int, default=64)
    ap.add_argument("--prior-eval-every", type=int, default=400)
    ap.add_argument("--task-eval-every", type=int, default=100)
    ap.add_argument("--task-lr", type=float, default=1e-4)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--val-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--memory-saving", action="store_true", help="slower; not needed on a large GPU")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS))
    args = ap.parse_args()
    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    log = open(args.out / "train_log.jsonl", "a")

    def record(event: dict) -> None:
        if event.get("event") in ("eval", "device", "resumed", "done"):
            log.write(json.dumps({"t": round(time.monotonic() - t0, 1), **event}, default=str) + "\n")
            log.flush()
            print(json.dumps(event, default=str), flush=True)

    dev = torch.device("cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    size = args.image_size
    train, val, test = args.data / "train", args.data / "val", args.data / "test"
    test_images = load_folder(test, size, 3, args.test_limit).float() / 255

    # 1. The prior.
    prior_budget = args.budget * args.prior_share
    pcfg = PretrainConfig(
        train_dir=train, val_dir=val, out_dir=args.runs / "prior", preset=args.preset, image_size=size,
        device=args.device, val_limit=args.val_limit, warmup_steps=200,
        loop=LoopConfig(batch_size=args.prior_batch, time_limit=prior_budget, eval_every=args.prior_eval_every,
                        patience=1000, seed=0),
    )
    result = pretrain(pcfg, callback=record)
    prior_ckpt = load_model(result.best_path, device=dev)  # the stage's best by validation bpd
    prior = prior_ckpt.model.eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(123)
        test_u8 = (test_images * 255).round().to(torch.uint8)
        bpd = torch.cat([
            bits_per_dim(prior.log_prob(dequantize(test_u8[i:i + 128], 8, g).to(dev)), 3 * size * size).cpu()
            for i in range(0, test_images.shape[0], 128)
        ])
        samples = prior.sample(16, size, size, temperature=0.7, generator=torch.Generator().manual_seed(0)).cpu()
    metrics = {**result.best, "test_bpd": float(bpd.mean()), "train_steps": result.step,
               "train_seconds": round(result.seconds, 1), "stop_reason": result.stop_reason}
    meta = dict(prior_ckpt.metadata)
    meta.pop("kind"), meta.pop("config"), meta.pop("format")
    save_model(args.out / "celeba-prior.safetensors", prior, dtype=torch.float16, extra={**meta, "metrics": metrics})
    grid([samples[:8], samples[8:]], args.out / "prior_samples.png")
    record({"event": "done", "stage": "prior", "metrics": metrics})

    # 2. The task models, from the fp16 prior as shipped.
    remaining = [t for t in TASKS if t in args.tasks]
    for i, task in enumerate(remaining):
        left = args.budget - (time.monotonic() - t0)
        task_budget = max(left / (len(remaining) - i) - 8, 10)
        spec = TaskSpec.default(task)
        fcfg = FinetuneConfig(
            train_dir=train, val_dir=val, task=spec, out_dir=args.runs / task,
            prior=args.out / "celeba-prior.safetensors", image_size=size, device=args.device,
            lr=args.task_lr, memory_saving=args.memory_saving, val_limit=args.val_limit,
            loop=LoopConfig(batch_size=args.task_batch, time_limit=task_budget,
                            eval_every=args.task_eval_every, patience=8, seed=0),
        )
        try:
            result = finetune(fcfg, callback=lambda e, task=task: record({**e, "task": task}))
        except TrainingError as e:  # keep the other tasks going; the best checkpoint so far survives
            record({"event": "done", "stage": task, "error": str(e)})
            if not (fcfg.out_dir / "best.safetensors").exists():
                continue
            result = LoopResult(step=-1, best={}, last=None, stop_reason=f"error: {e}", seconds=0.0,
                                best_path=fcfg.out_dir / "best.safetensors")
        ckpt = load_model(result.best_path, device=dev)
        model = ckpt.model.eval()
        op = spec.operator(size, size)
        seeds = list(range(test_images.shape[0]))
        y = measure_each(test_images, op, spec.noise_sigma, seeds)
        op = op.to(dev)
        with torch.no_grad():
            x_hat = torch.cat([model(y[j:j + 64].to(dev), op).cpu() for j in range(0, y.shape[0], 64)]).clamp(0, 1)
        psnr = -10 * torch.log10(((x_hat - test_images) ** 2).flatten(1).mean(1))
        metrics = {**result.best, "test_psnr": float(psnr.mean()), "train_steps": result.step,
                   "train_seconds": round(result.seconds, 1), "stop_reason": result.stop_reason}
        meta = dict(ckpt.metadata)
        meta.pop("kind"), meta.pop("config"), meta.pop("format")
        save_model(args.out / f"glow-{task}.safetensors", model, dtype=torch.float16,
                   extra={**meta, "metrics": metrics})
        grid([y[:8].clamp(0, 1), x_hat[:8], test_images[:8]], args.out / f"restore_{task}.png")
        record({"event": "done", "stage": task, "metrics": metrics})
    record({"event": "done", "stage": "all", "seconds": round(time.monotonic() - t0, 1)})


if __name__ == "__main__":
    main()
