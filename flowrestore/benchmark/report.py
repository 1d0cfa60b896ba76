"""Summaries of a benchmark run and the files that record it (Markdown, CSV, JSON, figures).

Every cell (setting x method) reports mean PSNR and SSIM with the half-width of a 95%
Student-t confidence interval over images (`metrics.mean_ci`), mean seconds per image, and the
published PSNR for the same setting, method and image domain when there is one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from flowrestore.benchmark import reference
from flowrestore.benchmark.datasets import BUNDLED
from flowrestore.benchmark.figures import setting_figure
from flowrestore.benchmark.harness import BenchmarkResult
from flowrestore.benchmark.methods import METHODS
from flowrestore.benchmark.metrics import mean_ci
from flowrestore.benchmark.provenance import device_description, versions
from flowrestore.checkpoints import sha256_of as sha256

SEED_RULE = "seed = first 4 bytes (little-endian) of sha256(image path relative to the dataset folder) & 0x7FFFFFFF"
CI_RULE = "mean +/- t_{0.975, n-1} * sd / sqrt(n) (Student-t 95% interval, sample sd with n-1)"
FILES = ("results.md", "results.csv", "summary.json")


@dataclass(frozen=True)
class Cell:
    setting: str
    task: str
    method: str
    label: str
    n: int
    psnr: float
    psnr_ci: float
    ssim: float
    ssim_ci: float
    seconds_per_image: float
    published_psnr: float | None
    published_source: str | None


@dataclass(frozen=True)
class Difference:
    """PSNR of `against` minus PSNR of `method`, paired image by image within one setting."""

    setting: str
    method: str
    against: str
    n: int
    psnr_diff: float
    psnr_diff_ci: float
    wins: float  # fraction of images where `against` scores higher


def paired_differences(records, settings: list[str], methods: list[str], against: str = "glow") -> list[Difference]:
    """For each setting and method, the mean over images of psnr(against) - psnr(method) with its
    95% t-interval. Pairing removes the spread between images, which dominates the per-method
    intervals, so this is the interval that says whether two methods differ."""
    out = []
    for setting in settings:
        by_method: dict[str, dict[str, float]] = {}
        for r in records:
            if r.setting == setting:
                by_method.setdefault(r.method, {})[r.image] = r.psnr
        reference = by_method.get(against)
        if not reference:
            continue
        for method in methods:
            if method == against or method not in by_method:
                continue
            common = sorted(set(reference) & set(by_method[method]))
            diffs = [reference[i] - by_method[method][i] for i in common]
            if not diffs:
                continue
            mean, half = mean_ci(diffs)
            wins = sum(d > 0 for d in diffs) / len(diffs)
            out.append(Difference(setting, method, against, len(diffs), mean, half, wins))
    return out


def _differences(result: BenchmarkResult) -> list[Difference]:
    settings = [s.label() for s in result.experiment.settings]
    return paired_differences(result.records, settings, list(result.experiment.methods))


def domain(result: BenchmarkResult) -> str | None:
    """Which published tables apply: the bundled set's, none for other folders."""
    return result.config.dataset if result.config.dataset in BUNDLED else None


def summarize(result: BenchmarkResult) -> list[Cell]:
    """One cell per (setting, method) that ran, in the experiment's order."""
    cells = []
    for setting in result.experiment.settings:
        for method in result.experiment.methods:
            rows = [r for r in result.records if r.setting == setting.label() and r.method == method]
            if not rows:
                continue
            psnr, psnr_ci = mean_ci([r.psnr for r in rows])
            ssim, ssim_ci = mean_ci([r.ssim for r in rows])
            ref = reference.lookup(domain(result), setting.spec, method)
            cells.append(Cell(
                setting.label(), setting.task, method, METHODS[method].label, len(rows), psnr, psnr_ci, ssim, ssim_ci,
                sum(r.seconds for r in rows) / len(rows),
                None if ref is None else ref.psnr, None if ref is None else ref.source,
            ))
    return cells


def plus_minus(mean: float, half: float, digits: int) -> str:
    if math.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def markdown(result: BenchmarkResult, cells: list[Cell]) -> str:
    c, imgs = result.config, result.images
    dev = device_description(c.device)
    lines = [
        f"# {result.experiment.title}",
        "",
        f"Dataset `{c.dataset}` ({len(imgs)} images, {imgs.images.shape[-2]}x{imgs.images.shape[-1]}); "
        f"device {dev['device']} ({dev['name']}), batch size {c.batch_size}.",
        "PSNR (dB, peak 1) and SSIM: mean ± half-width of the 95% Student-t interval over images; estimates are "
        "clipped to [0, 1] before scoring. Time: seconds per image on this device. Published: the paper's mean "
        "PSNR on its own split (an anchor, not a target).",
    ]
    for setting in result.experiment.settings:
        rows = [cell for cell in cells if cell.setting == setting.label()]
        if not rows:
            continue
        lines += ["", f"## {setting.label()}", ""]
        if setting.trained != setting.spec:
            lines += [f"Learned models trained at {setting.trained.label()} (a noise-conditioned model: trained "
                      "across noise levels and given this one).", ""]
        lines += ["| method | PSNR (dB) | published PSNR | SSIM | s / image | n |", "|---|---|---|---|---|---|"]
        for cell in rows:
            pub = "–" if cell.published_psnr is None else f"{cell.published_psnr:.3f} ({cell.published_source})"
            lines.append(
                f"| {cell.label} | {plus_minus(cell.psnr, cell.psnr_ci, 2)} | {pub} | {plus_minus(cell.ssim, cell.ssim_ci, 4)} "
                f"| {cell.seconds_per_image:.4f} | {cell.n} |"
            )
    differences = _differences(result)
    if differences:
        lines += ["", f"## Paired differences: {METHODS[differences[0].against].label} minus each row", "",
                  "PSNR difference (dB) per image, mean ± half-width of its 95% Student-t interval; positive: "
                  "the proposed method is better. Wins: share of images where it scores higher.", "",
                  "| setting | method | Δ PSNR (dB) | wins | n |", "|---|---|---|---|---|"]
        for d in differences:
            lines.append(f"| {d.setting} | {METHODS[d.method].label} | {plus_minus(d.psnr_diff, d.psnr_diff_ci, 2)} "
                         f"| {d.wins:.0%} | {d.n} |")
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def per_image_csv(result: BenchmarkResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["setting", "task", "method", "image", "seed", "psnr", "ssim", "seconds"])
    for r in result.records:
        writer.writerow([r.setting, r.task, r.method, r.image, r.seed, f"{r.psnr:.6f}", f"{r.ssim:.6f}",
                         f"{r.seconds:.6g}"])
    return out.getvalue()


def summary(result: BenchmarkResult, cells: list[Cell]) -> dict:
    """Everything needed to rerun and compare: configuration, data, checkpoints, versions, cells."""
    exp = result.experiment
    return {
        "experiment": {
            "name": exp.name,
            "title": exp.title,
            "settings": [{"spec": s.spec.to_dict(), "trained": s.trained.to_dict(), "label": s.label()}
                         for s in exp.settings],
            "methods": list(exp.methods),
        },
        "config": result.config.to_dict(),
        "dataset": {"name": result.images.name, "folder": str(result.images.folder), "images": len(result.images)},
        "seeds": SEED_RULE,
        "metrics": {"psnr": "10 log10(1 / MSE), peak 1", "ssim": "skimage structural_similarity, Gaussian "
                    "window sigma 1.5, data range 1, channel mean", "ci": CI_RULE,
                    "seconds": "wall-clock per image (batch time / batch size); learned models warmed up once"},
        "methods": result.built,
        "checkpoints": {n: {"path": str(p), "sha256": sha256(p)} for n, p in result.checkpoints.items()},
        "versions": versions(),
        "device": device_description(result.config.device),
        "cells": [asdict(c) for c in cells],
        "paired_differences": [asdict(d) for d in _differences(result)],
        "notes": result.notes,
    }


def _strict(value):
    """JSON without NaN or Infinity tokens: non-finite numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", label.lower().replace("=", "")).strip("-")


def write_report(result: BenchmarkResult, out: Path) -> list[Path]:
    """Write results.md, results.csv, summary.json and one figure per setting into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    cells = summarize(result)
    written = []
    for name, text in zip(FILES, (markdown(result, cells), per_image_csv(result),
                                  json.dumps(_strict(summary(result, cells)), indent=2, allow_nan=False) + "\n")):
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    for label, ex in result.examples.items():
        estimates = {m: x for m, x in ex.estimates.items() if m != "measurement"}  # it has its own column
        if not estimates or not ex.names:
            continue
        path = out / f"figure-{slug(label)}.png"
        setting_figure(ex.truth, ex.measurement, estimates).save(path)
        written.append(path)
    return written
