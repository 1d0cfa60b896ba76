"""Copy a checkpoint as fp16 (the shipped format), keeping its metadata and compute ledger
(flowrestore.shipping.pipeline.export_fp16). To ship it, use scripts/ship_candidate.py, which
scores it on celeba64/val and updates both registries and the README in one transaction.

    python scripts/export_fp16.py runs/cpu-denoise/best.safetensors out/glow-denoise.safetensors \
        --note "fine-tuned further on CPU from the H200 checkpoint"
"""

from __future__ import annotations

import argparse
from pathlib import Path

from flowrestore.shipping.pipeline import export_fp16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--note", default=None)
    args = parser.parse_args()
    export_fp16(args.src, args.dst, note=args.note)


if __name__ == "__main__":
    main()
