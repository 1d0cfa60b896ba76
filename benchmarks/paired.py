"""Paired PSNR differences between any two methods of a benchmark run, from its results.csv.

    PYTHONPATH=. python3 benchmarks/paired.py RUN/results.csv --against glow-aware

`flowrestore benchmark` pairs every method with the proposed one (`glow`); this pairs them with
`--against` instead (for example the noise-aware denoiser against BM3D). Prints a Markdown table:
per setting and method, the mean over images of psnr(against) - psnr(method), its 95% Student-t
interval, and the share of images where `--against` scores higher.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from types import SimpleNamespace

from flowrestore.benchmark.report import paired_differences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path, help="results.csv of a `flowrestore benchmark` run")
    ap.add_argument("--against", default="glow", help="the method subtracted from (default: glow)")
    args = ap.parse_args()
    with args.csv.open(newline="") as f:
        records = [SimpleNamespace(setting=r["setting"], method=r["method"], image=r["image"], psnr=float(r["psnr"]))
                   for r in csv.DictReader(f)]
    settings = list(dict.fromkeys(r.setting for r in records))
    methods = list(dict.fromkeys(r.method for r in records))
    if args.against not in methods:
        ap.error(f"{args.against} is not in {args.csv} (methods: {', '.join(methods)})")
    print(f"| setting | {args.against} minus | Δ PSNR (dB) | wins | n |")
    print("|---|---|---|---|---|")
    for d in paired_differences(records, settings, methods, args.against):
        print(f"| {d.setting} | {d.method} | {d.psnr_diff:+.2f} ± {d.psnr_diff_ci:.2f} | {d.wins:.0%} | {d.n} |")


if __name__ == "__main__":
    main()
