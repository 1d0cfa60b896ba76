"""Train the shipped checkpoints in one timed run: the CelebA prior, then the three task models.

    PYTHONPATH=. python scripts/train_defaults.py --data .data --out OUT --budget 540

Stages share one wall-clock budget (seconds): the prior gets `--prior-share` of it, the
task models split the rest, so a slow machine shortens stages instead of losing results.
Each stage writes its fp16 checkpoint to OUT as soon as it ends, with test-set metrics,
plus a sample grid and a restoration grid to look at. Test measurements use the benchmark's
noise seeds (one per file name), so a test PSNR here is the benchmark's. A log of every
evaluation goes to OUT/train_log.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from flowrestore.benchmark.datasets import load_images
from flowrestore.devices import pick_device
from flowrestore.flow import bits_per_dim
from flowrestore.metrics import psnr_each
from flowrestore.operators import TaskSpec, measure_each
from flowrestore.serialization import load_model, save_model
from flowrestore.tasks import TASKS
from flowrestore.training import (
    FinetuneConfig,
    LoopConfig,
    LoopResult,
    PretrainConfig,
    TrainingError,
    finetune,
    pretrain,
)
from flowrestore.training.pretrain import dequantize


def grid(rows: list[torch.Tensor], path: Path) -> None:
    """rows: list of (N, C, H, W) tensors in [0, 1] -> one PNG, one row per tensor."""
    arr = torch.cat([torch.cat(list(r.clamp(0, 1).cpu()), dim=2) for r in rows], dim=1)
    Image.fromarray((arr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(".data"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", type=Path, default=Path("/tmp/flowrestore-runs"))
    ap.add_argument("--budget", type=float, default=540.0)
    ap.add_argument("--prior-share", type=float, default=0.36)
    ap.add_argument("--preset", default="compact")
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (flowrestore.devices)")
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
    return ap.parse_args()


def main() -> None:
    args = arguments()
    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    log = open(args.out / "train_log.jsonl", "a")

    def record(event: dict) -> None:
        if event.get("event") in ("eval", "device", "resumed", "done"):
            log.write(json.dumps({"t": round(time.monotonic() - t0, 1), **event}, default=str) + "\n")
            log.flush()
            print(json.dumps(event, default=str), flush=True)

    dev = pick_device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    # The benchmark's images and noise seeds (one per file name), so test PSNRs match its table.
    test = load_images(str(args.data / "test"), args.test_limit, args.image_size)
    train_prior(args, test.images, dev, args.budget * args.prior_share, record)
    # The task models, from the fp16 prior as shipped.
    remaining = [t for t in TASKS if t in args.tasks]
    for i, task in enumerate(remaining):
        left = args.budget - (time.monotonic() - t0)
        train_task(args, task, test, dev, max(left / (len(remaining) - i) - 8, 10), record)
    record({"event": "done", "stage": "all", "seconds": round(time.monotonic() - t0, 1)})


def train_prior(args, test_images: torch.Tensor, dev: torch.device, budget: float, record) -> None:
    """Stage 1: the prior, written as OUT/celeba-prior.safetensors (fp16) with its test bits/dim."""
    size = args.image_size
    pcfg = PretrainConfig(
        train_dir=args.data / "train", val_dir=args.data / "val", out_dir=args.runs / "prior", preset=args.preset,
        image_size=size, device=str(dev), val_limit=args.val_limit, warmup_steps=200,
        loop=LoopConfig(batch_size=args.prior_batch, time_limit=budget, eval_every=args.prior_eval_every,
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
    save_model(args.out / "celeba-prior.safetensors", prior, dtype=torch.float16,
               extra={**training_metadata(prior_ckpt), "metrics": metrics})
    grid([samples[:8], samples[8:]], args.out / "prior_samples.png")
    record({"event": "done", "stage": "prior", "metrics": metrics})


def train_task(args, task: str, test, dev: torch.device, budget: float, record) -> None:
    """Stage 2: one task model, written as OUT/glow-<task>.safetensors (fp16) with its test PSNR."""
    spec = TaskSpec.default(task)
    fcfg = FinetuneConfig(
        train_dir=args.data / "train", val_dir=args.data / "val", task=spec, out_dir=args.runs / task,
        prior=args.out / "celeba-prior.safetensors", image_size=args.image_size, device=str(dev),
        lr=args.task_lr, memory_saving=args.memory_saving, val_limit=args.val_limit,
        loop=LoopConfig(batch_size=args.task_batch, time_limit=budget, eval_every=args.task_eval_every,
                        patience=8, seed=0),
    )
    try:
        result = finetune(fcfg, callback=lambda e: record({**e, "task": task}))
    except TrainingError as e:  # keep the other tasks going; the best checkpoint so far survives
        record({"event": "done", "stage": task, "error": str(e)})
        if not (fcfg.out_dir / "best.safetensors").exists():
            return
        result = LoopResult(step=-1, best={}, last=None, stop_reason=f"error: {e}", seconds=0.0,
                            best_path=fcfg.out_dir / "best.safetensors")
    ckpt = load_model(result.best_path, device=dev)
    model = ckpt.model.eval()
    images = test.images
    op = spec.operator(args.image_size, args.image_size)
    y = measure_each(images, op, spec.noise_sigma, test.seeds)
    op = op.to(dev)
    with torch.no_grad():
        x_hat = torch.cat([model(y[j:j + 64].to(dev), op).cpu() for j in range(0, y.shape[0], 64)]).clamp(0, 1)
    metrics = {**result.best, "test_psnr": float(psnr_each(x_hat, images).mean()), "train_steps": result.step,
               "train_seconds": round(result.seconds, 1), "stop_reason": result.stop_reason}
    save_model(args.out / f"glow-{task}.safetensors", model, dtype=torch.float16,
               extra={**training_metadata(ckpt), "metrics": metrics})
    grid([y[:8].clamp(0, 1), x_hat[:8], images[:8]], args.out / f"restore_{task}.png")
    record({"event": "done", "stage": task, "metrics": metrics})


def training_metadata(checkpoint) -> dict:
    """A checkpoint's metadata without what save_model writes itself."""
    return {k: v for k, v in checkpoint.metadata.items() if k not in ("kind", "config", "format")}


if __name__ == "__main__":
    main()
