"""Train the comparison models of Tables I-III under one budget, on the CPU.

Every model gets the same training pairs (same seed, so the same images, flips and noise in the
same order), the same number of steps, the same validation set and the same early stopping (the
best of the evaluations is kept): the ResNet and U-Net prox, their "pre-trained as a denoiser"
variants for inpainting and deblurring, plug-and-play GLOW (one frozen prior, only mu and lambda
trained) and, as the control, the GLOW prox fine-tuned from the shipped prior (the one shipped when
the --root's first run started: it is copied there, so that a later shipment does not change the start).

    python scripts/train_baselines.py --queue a &    # two single-threaded workers, one per core
    python scripts/train_baselines.py --queue b &
    python scripts/train_baselines.py --collect      # runs/baselines/<name>/best -> runs/baselines/ckpt/<name>
    flowrestore benchmark --dataset celeba --checkpoint-dir runs/baselines/ckpt --method resnet ...

A worker resumes an interrupted run from its state file and skips finished ones, so the
command can simply be started again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from flowrestore.checkpoints import sha256_of
from flowrestore.operators import TaskSpec
from flowrestore.training import FinetuneConfig, LoopConfig, finetune

PRIOR = Path("flowrestore/weights/celeba-prior.safetensors")
PINNED = "celeba-prior.safetensors"  # every GLOW run of a --root starts from this copy of the bundled prior


@dataclass(frozen=True)
class Run:
    name: str  # the benchmark's checkpoint name, e.g. "unet-pretrained-inpaint"
    queue: str
    prox: str
    task: str
    lr: float
    init_from: str | None = None  # another run whose best prox weights start this one
    plug_and_play: bool = False


# From-scratch networks get Adam's usual 1e-3; the flows start from a trained prior and get 1e-4
# (the shipped models' rate; the paper's 1e-5 is too slow for this budget). The queues balance
# the two workers: a ResNet step costs about 4.5x a U-Net or plug-and-play step, 3x a GLOW step.
RUNS = [
    Run("resnet-denoise", "a", "resnet", "denoise", 1e-3),
    Run("resnet-inpaint", "a", "resnet", "inpaint", 1e-3),
    Run("resnet-deblur", "a", "resnet", "deblur", 1e-3),
    Run("resnet-pretrained-inpaint", "a", "resnet", "inpaint", 1e-3, init_from="resnet-denoise"),
    Run("unet-denoise", "b", "unet", "denoise", 1e-3),
    Run("glow-denoise", "b", "glow", "denoise", 1e-4),
    Run("pnp-denoise", "b", "glow", "denoise", 1e-4, plug_and_play=True),
    Run("unet-inpaint", "b", "unet", "inpaint", 1e-3),
    Run("glow-inpaint", "b", "glow", "inpaint", 1e-4),
    Run("pnp-inpaint", "b", "glow", "inpaint", 1e-4, plug_and_play=True),
    Run("unet-deblur", "b", "unet", "deblur", 1e-3),
    Run("glow-deblur", "b", "glow", "deblur", 1e-4),
    Run("pnp-deblur", "b", "glow", "deblur", 1e-4, plug_and_play=True),
    Run("unet-pretrained-inpaint", "b", "unet", "inpaint", 1e-3, init_from="unet-denoise"),
    Run("unet-pretrained-deblur", "b", "unet", "deblur", 1e-3, init_from="unet-denoise"),
    Run("resnet-pretrained-deblur", "b", "resnet", "deblur", 1e-3, init_from="resnet-denoise"),
    # Is the comparison decided by the learning rates? Denoising at other rates (validation only).
    Run("glow-denoise-lr3e-4", "lr", "glow", "denoise", 3e-4),
    Run("glow-denoise-lr1e-3", "lr", "glow", "denoise", 1e-3),
    Run("unet-denoise-lr1e-4", "lr", "unet", "denoise", 1e-4),
]


def config_for(run: Run, args: argparse.Namespace) -> FinetuneConfig:
    return FinetuneConfig(
        train_dir=args.data / "train",
        val_dir=args.data / "val",
        task=TaskSpec.default(run.task),
        out_dir=args.root / run.name,
        prox=run.prox,
        prior=pinned_prior(args.root) if run.prox == "glow" else None,
        init_from=args.root / run.init_from / "best.safetensors" if run.init_from else None,
        plug_and_play=run.plug_and_play,
        lr=run.lr,
        memory_saving=False,
        val_limit=args.val_limit,
        device="cpu",
        loop=LoopConfig(batch_size=args.batch_size, max_steps=args.steps, eval_every=args.eval_every,
                        patience=1000, seed=args.seed),
    )


def pinned_prior(root: Path) -> Path:
    """`root`'s copy of the prior, made from the bundled one on first use: a prior shipped while a rerun is
    under way must not give its later GLOW runs another start than its earlier ones."""
    path = root / PINNED
    if not path.exists():
        shutil.copyfile(PRIOR, path)
    return path


def train(run: Run, args: argparse.Namespace) -> None:
    out = args.root / run.name
    if (out / "done.json").exists():
        return
    if run.init_from:
        while not (args.root / run.init_from / "done.json").exists():
            time.sleep(30)  # the denoiser is still training in the other worker
    log = (args.root / f"{run.name}.jsonl").open("a")
    started = time.monotonic()
    result = finetune(config_for(run, args), resume=(out / "state.safetensors").exists(),
                      callback=lambda event: log.write(json.dumps(event, default=str) + "\n") and log.flush())
    summary = {"run": run.__dict__, "best": result.best, "seconds_this_session": time.monotonic() - started,
               "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
               "prior_sha256": sha256_of(pinned_prior(args.root)) if run.prox == "glow" else None}
    (out / "done.json").write_text(json.dumps(summary, indent=2, default=str))


def collect(args: argparse.Namespace) -> None:
    dest = args.root / "ckpt"
    dest.mkdir(parents=True, exist_ok=True)
    for run in RUNS:
        best = args.root / run.name / "best.safetensors"
        if (args.root / run.name / "done.json").exists():
            shutil.copyfile(best, dest / f"{run.name}.safetensors")
    shutil.copyfile(pinned_prior(args.root), dest / "celeba-prior.safetensors")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queue", choices=sorted({r.queue for r in RUNS}))
    ap.add_argument("--only", nargs="+", help="run these names, in this order, instead of a queue")
    ap.add_argument("--collect", action="store_true")
    ap.add_argument("--data", type=Path, default=Path(".data"))
    ap.add_argument("--root", type=Path, default=Path("runs/baselines"))
    ap.add_argument("--steps", type=int, default=320)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--eval-every", type=int, default=40)
    ap.add_argument("--val-limit", type=int, default=48)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.collect:
        collect(args)
        return
    torch.set_num_threads(args.threads)
    args.root.mkdir(parents=True, exist_ok=True)
    by_name = {r.name: r for r in RUNS}
    unknown = [name for name in args.only or [] if name not in by_name]
    if unknown:
        ap.error(f"unknown run(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    # --only runs in the order given (a run started from another waits for it to finish).
    chosen = [by_name[name] for name in args.only] if args.only else [r for r in RUNS if r.queue == args.queue]
    if not chosen:
        ap.error("pass --queue, --only NAME... or --collect")
    for run in chosen:
        train(run, args)


if __name__ == "__main__":
    main()
