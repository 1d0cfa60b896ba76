"""Grid-search the classical baselines' parameters on validation images; print a Markdown table.

    python3 benchmarks/tune_classical.py --dataset /work/shared/data/celeba64/val --limit 100

Copy the winners into flowrestore/benchmark/classical.py (TUNED) by hand: tuning is a decision
recorded in code, not something the benchmark redoes.
"""

from __future__ import annotations

import argparse
import sys

from flowrestore.benchmark.datasets import load_images
from flowrestore.benchmark.tuning import GRIDS, tune


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="a validation image folder (never the test set)")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--method", action="append", choices=sorted(GRIDS), help="default: all")
    args = parser.parse_args(argv)
    images = load_images(args.dataset, args.limit)
    print(f"{len(images)} images from {images.folder}, Table I settings\n")
    for method in args.method or list(GRIDS):
        result = tune(method, images, progress=lambda v, p: print(f"  {method} {v:g}: {p:.3f} dB", file=sys.stderr))
        print(f"| {method} {result.parameter} | " + " | ".join(f"{v:g}" for v in result.values) + " |")
        print("|---|" + "---|" * len(result.values))
        print("| mean PSNR (dB) | " + " | ".join(f"{p:.3f}" for p in result.psnr) + " |")
        print(f"\nchosen: {method} {result.parameter} = {result.best:g}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
