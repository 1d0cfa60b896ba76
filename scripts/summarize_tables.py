"""One compact Markdown table per experiment from benchmark runs: methods x settings, ours beside the paper's.

    python scripts/summarize_tables.py runs/tables/table1 runs/tables/table4 ...

Each argument is a `flowrestore benchmark --output` folder; cells are mean PSNR ± 95% interval
(dB) with the published PSNR in brackets where the paper has one.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from flowrestore.benchmark.report import plus_minus


def _interval(mean: float, half: float | None, digits: int = 2) -> str:
    """report.plus_minus for a summary.json value, where a NaN half-width was written as null."""
    return plus_minus(mean, math.nan if half is None else half, digits)


def table(summary: dict) -> str:
    cells = summary["cells"]
    settings = [s["label"] for s in summary["experiment"]["settings"]]
    methods = [m for m in summary["experiment"]["methods"] if any(c["method"] == m for c in cells)]
    by = {(c["setting"], c["method"]): c for c in cells}
    head = f"| method | {' | '.join(settings)} |"
    lines = [head, "|---" * (len(settings) + 1) + "|"]
    for m in methods:
        label = next(c["label"] for c in cells if c["method"] == m)
        row = []
        for s in settings:
            c = by.get((s, m))
            if c is None:
                row.append("–")
                continue
            text = _interval(c["psnr"], c["psnr_ci"])
            if c["published_psnr"] is not None:
                text += f" ({c['published_psnr']:.2f})"
            row.append(text)
        lines.append(f"| {label} | {' | '.join(row)} |")
    n = {c["n"] for c in cells}
    return f"**{summary['experiment']['title']}** — {summary['dataset']['name']}, n = {'/'.join(map(str, sorted(n)))}\n\n" + "\n".join(lines)


def differences(summary: dict) -> str:
    rows = [d for d in summary.get("paired_differences", []) if d["method"] not in ("measurement", "adjoint")]
    if not rows:
        return ""
    labels = {c["method"]: c["label"] for c in summary["cells"]}
    lines = ["| setting | GLOW prox minus | Δ PSNR (dB) | GLOW better on |", "|---|---|---|---|"]
    for d in rows:
        diff = ("+" if d["psnr_diff"] >= 0 else "") + _interval(d["psnr_diff"], d["psnr_diff_ci"])
        lines.append(f"| {d['setting']} | {labels[d['method']]} | {diff} | {d['wins']:.0%} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args()
    for run in args.runs:
        summary = json.loads((run / "summary.json").read_text())
        print(table(summary) + "\n")
        diff = differences(summary)
        if diff:
            print(diff + "\n")


if __name__ == "__main__":
    main()
