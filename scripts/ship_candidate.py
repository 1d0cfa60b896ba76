"""Ship a checkpoint trained elsewhere (a GPU run, a fit) if it beats the shipped one on validation.

    python scripts/ship_candidate.py --name glow-denoise --candidate /work/state/sigma-fit/best.safetensors \\
        --seconds 3900 --device-label cpu --state /work/state/ship

The candidate goes through the pipeline's own decision (flowrestore.shipping.pipeline.decide):
exported in the shipped format with the compute ledger of the file its run started from (--started-from,
by default the shipped file) plus --seconds on --device-label, scored
on celeba64/val with the benchmark's protocol (a noise-conditioned denoiser over the sweep's noise
levels), and shipped in one transaction only if it is better.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flowrestore.checkpoints import load_registry
from flowrestore.shipping.pipeline import ScoreCache, ShipConfig, compute_of, decide, export_shipped

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--candidate", type=Path, required=True)
    ap.add_argument("--seconds", type=float, required=True, help="training time behind the candidate")
    ap.add_argument("--device-label", default="cpu")
    ap.add_argument("--started-from", type=Path, help="the file the candidate's run started from, whose compute "
                    "ledger it continues (default: the shipped file; give it when that was replaced meanwhile)")
    ap.add_argument("--data", type=Path, default=ROOT / ".data")
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    for path in (args.candidate, args.started_from):
        if path is not None and not path.is_file():
            ap.error(f"no such file: {path}")
    config = ShipConfig(root=ROOT, data=args.data, state_root=args.state, budget=0.0, dry_run=args.dry_run)
    registry = load_registry(config.registries[0])
    if args.name not in registry:
        ap.error(f"no checkpoint named {args.name!r} in the registry; choose one of {', '.join(registry)}")
    entry = registry[args.name]
    shipped = ROOT / "flowrestore" / entry.file
    args.state.mkdir(parents=True, exist_ok=True)
    candidate = args.state / f"{args.name}-candidate.safetensors"
    storage = export_shipped(args.candidate, candidate,
                             compute_of(args.name, args.started_from or shipped)
                             + [{"device": args.device_label, "seconds": args.seconds}],
                             probe=args.data / "val")
    print(f"stored as {storage}")
    decision = decide(entry, candidate, None, config, ScoreCache(args.state / "scores.json"), print)
    print(json.dumps(decision))


if __name__ == "__main__":
    main()
