"""Copy a checkpoint in the shipped format (int8 kernels, fp16 rest), keeping its metadata and
compute ledger (flowrestore.shipping.pipeline.export_shipped). To ship it, use scripts/ship_candidate.py, which
scores it on celeba64/val and updates both registries and the README in one transaction.

    python scripts/export_shipped.py runs/cpu-denoise/best.safetensors out/glow-denoise.safetensors \
        --note "fine-tuned further on CPU from the H200 checkpoint"
"""

from __future__ import annotations

import argparse
from pathlib import Path

from flowrestore.shipping.pipeline import export_shipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--note", default=None)
    args = parser.parse_args()
    export_shipped(args.src, args.dst, note=args.note)


if __name__ == "__main__":
    main()
