"""Continue the shipped models and ship those that improve on validation (flowrestore.shipping).

    # a 15-minute GPU window: all four models in 9 minutes of training, the data carried along
    PYTHONPATH=. python scripts/continue_and_ship.py --device cuda --minutes 9 --data .data --state $OUT/state
    # hours in the background on this 2-core CPU, in rounds, one thread
    python scripts/continue_and_ship.py --device cpu --minutes 240 --rounds 6 --state /work/state/ship \\
        --models glow-deblur glow-denoise

--data holds train/ and val/ (celeba64). Run folders, a score cache and a log live under
--state (keep it outside the repository so that it survives); a second call resumes every run.
Each model's learning rate is the recipe's times a scale kept in <state>/schedule.json, halved after
every round that ships nothing; `--lr-scale glow-deblur=0.3` sets one by hand (and restarts its run
from the shipped file), e.g. after a run was seen to diverge.
Each decision is printed as one JSON line and appended to <state>/ship.log.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from flowrestore.devices import pick_device
from flowrestore.shipping.pipeline import MODELS, ShipConfig, run
from flowrestore.shipping.schedule import set_lr_scale

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, required=True, help="training time in all (scoring comes on top)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data", type=Path, default=ROOT / ".data", help="a folder holding train/ and val/")
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--shares", nargs="+", type=float, help="fraction of the time per model, in --models order")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--val-limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--dry-run", action="store_true", help="train and score as usual, but ship nothing")
    ap.add_argument("--no-reports", action="store_true",
                    help="leave docs/results' benchmark reports as they are (refresh_registry.py --reports, later)")
    ap.add_argument("--eager", action="store_true",
                    help="on CUDA, train without recording the step as a CUDA graph")
    ap.add_argument("--lr-scale", nargs="+", default=[], metavar="NAME=SCALE",
                    help="set a model's learning-rate scale in (0, 1] before training")
    args = ap.parse_args()
    if args.minutes <= 0 or args.rounds < 1:
        ap.error("--minutes must be positive and --rounds at least 1")
    if args.shares and len(args.shares) != len(args.models):
        ap.error("give one --shares value per model")
    missing = [part for part in ("train", "val") if not (args.data / part).is_dir()]
    if missing:
        absent = " or ".join(f"{m}/" for m in missing)
        ap.error(f"--data {args.data} must hold the folders train/ and val/ (no {absent} there)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = str(pick_device(args.device))
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    shares = dict(zip(args.models, args.shares)) if args.shares else {}
    config = ShipConfig(root=ROOT, data=args.data, state_root=args.state, budget=args.minutes * 60, device=device,
                        models=tuple(args.models), shares=shares, rounds=args.rounds, val_limit=args.val_limit,
                        dry_run=args.dry_run, cuda_graph=not args.eager, reports=not args.no_reports)
    args.state.mkdir(parents=True, exist_ok=True)
    for item in args.lr_scale:
        name, _, value = item.partition("=")
        if name not in MODELS:
            ap.error(f"--lr-scale {item}: unknown model {name!r}; choose from {', '.join(MODELS)}")
        try:
            set_lr_scale(args.state, name, float(value), "set by hand (--lr-scale)")
        except ValueError as e:
            ap.error(f"--lr-scale {item}: {e}")
    started = time.monotonic()
    with (args.state / "ship.log").open("a") as log:
        def emit(event: dict) -> None:
            line = json.dumps({"t": round(time.monotonic() - started, 1), **event}, default=str)
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()

        decisions = run(config, emit)
    shipped = [d["name"] for d in decisions if d["event"] == "shipped"]
    print(f"shipped: {', '.join(shipped) or 'nothing'}", file=sys.stderr)


if __name__ == "__main__":
    main()
