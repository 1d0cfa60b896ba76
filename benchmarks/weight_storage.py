"""What storing the shipped weights as int8 (flowrestore.quantization) costs in size and quality.

    PYTHONPATH=. python3 benchmarks/weight_storage.py --out /tmp/weight-storage

Each bundled checkpoint is written again as int8 (large tensors, per-row scales) beside its fp16
copy and both are scored on celeba64/val by the shipping pipeline's own scorer: PSNR through the
benchmark's seeded Table I protocol (the denoising sweep's mean for a noise-conditioned
denoiser), bits/dim for the prior. Prints a markdown table; the int8 files stay in --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from flowrestore.checkpoints import load_registry
from flowrestore.serialization import load_model, save_model
from flowrestore.shipping.scores import prior_score, solver_score

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".data" / "val")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--names", nargs="+", default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    registry = load_registry(ROOT / "flowrestore" / "checkpoints.toml")
    print("| checkpoint | metric | fp16 | int8 | int8 - fp16 | fp16 MB | int8 MB |")
    print("|---|---|---|---|---|---|---|")
    for name in args.names or list(registry):
        entry = registry[name]
        shipped = ROOT / "flowrestore" / entry.file
        ckpt = load_model(shipped)
        extra = {k: v for k, v in ckpt.metadata.items() if k not in ("kind", "config", "format")}
        small = args.out / f"{name}-int8.safetensors"
        save_model(small, ckpt.model, extra=extra, dtype=torch.int8)
        if entry.kind == "glow":
            scores = [prior_score(p, str(args.data), limit=args.limit) for p in (shipped, small)]
        else:
            sweep = entry.sigma_range is not None
            scores = [solver_score(p, name, entry.task_name, str(args.data), limit=args.limit, sweep=sweep)
                      for p in (shipped, small)]
        metric = scores[0].metric + (" (sweep mean)" if entry.kind != "glow" and sweep else "")
        mb = [p.stat().st_size / 1e6 for p in (shipped, small)]
        print(f"| {name} | {metric} | {scores[0].value:.3f} | {scores[1].value:.3f} | "
              f"{scores[1].value - scores[0].value:+.3f} | {mb[0]:.2f} | {mb[1]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
