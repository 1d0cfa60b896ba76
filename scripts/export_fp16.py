"""Copy a checkpoint as fp16 (the shipped format), keeping its metadata.

    python scripts/export_fp16.py runs/cpu-denoise/best.safetensors flowrestore/weights/glow-denoise.safetensors \
        --note "fine-tuned further on CPU from the H200 checkpoint"
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from flowrestore.serialization import load_model, save_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--note", default=None)
    args = ap.parse_args()
    ckpt = load_model(args.src)
    extra = {k: v for k, v in ckpt.metadata.items() if k not in ("kind", "config", "format")}
    if args.note:
        extra["history_note"] = args.note
    save_model(args.dst, ckpt.model, extra=extra, dtype=torch.float16)


if __name__ == "__main__":
    main()
