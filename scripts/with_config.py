"""Write a checkpoint with fields of its model configuration changed, its tensors copied byte for byte
(flowrestore.serialization.with_config): e.g. an inference setting to ship through ship_candidate.py.

    python scripts/with_config.py flowrestore/weights/glow-denoise.safetensors /tmp/flip.safetensors flip_ensemble=true

Values are read as JSON (true, 0.04, "ridge"); the changed configuration must still describe a model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flowrestore.serialization import with_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("target", type=Path)
    ap.add_argument("changes", nargs="+", metavar="FIELD=VALUE")
    args = ap.parse_args()
    changes = {}
    for item in args.changes:
        field, sep, value = item.partition("=")
        if not sep:
            ap.error(f"{item!r}: give FIELD=VALUE")
        try:
            changes[field] = json.loads(value)
        except json.JSONDecodeError:
            ap.error(f"{item!r}: the value must be JSON (true, 0.04, \"ridge\")")
    if args.target.resolve() == args.source.resolve():
        ap.error("write to another file: the source stays as it is")
    try:
        with_config(args.source, args.target, **changes)
    except (TypeError, ValueError) as error:  # an unknown field, or values that describe no model
        ap.error(f"{args.source}: {error}")
    print(f"wrote {args.target}")


if __name__ == "__main__":
    main()
