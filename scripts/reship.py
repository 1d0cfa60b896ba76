"""Ship a checkpoint under a registry name whatever it scores, in the shipped format with fresh metrics.

    python scripts/reship.py --name glow-deblur --state /work/state/ship
    python scripts/reship.py --name glow-denoise --source old/glow-denoise.safetensors --state /work/state/ship

For a change of the shipped storage format (the default --source is the file shipped now) or a
new registry entry (write its row by hand with sha256 = "", then reship fills the sha256 and the
metrics). Everything else goes through scripts/continue_and_ship.py or scripts/ship_candidate.py,
which ship only what beats validation. The run folder <state>/<name>, if there is one, may go on
from the new file (flowrestore.shipping.pipeline.reship).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flowrestore.checkpoints import load_registry
from flowrestore.shipping.pipeline import ScoreCache, ShipConfig, reship

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--source", type=Path, default=None, help="default: the file shipped under --name")
    ap.add_argument("--data", type=Path, default=ROOT / ".data")
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    config = ShipConfig(root=ROOT, data=args.data, state_root=args.state, budget=0.0, dry_run=args.dry_run)
    entry = load_registry(config.registries[0])[args.name]
    source = args.source or ROOT / "flowrestore" / entry.file
    if source.resolve() == (ROOT / "flowrestore" / entry.file).resolve():
        copy = args.state / f"{args.name}-before-reship.safetensors"  # the shipped file is about to be replaced
        args.state.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(source.read_bytes())
        source = copy
    run_dir = args.state / args.name
    decision = reship(entry, source, config, ScoreCache(args.state / "scores.json"),
                      run_dir if (run_dir / "lineage.json").exists() else None)
    print(json.dumps(decision))


if __name__ == "__main__":
    main()
