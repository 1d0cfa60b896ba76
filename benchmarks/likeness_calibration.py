"""Calibrate the face-likeness flag: bits/dim under celeba-prior of CelebA validation faces against anime faces.

    PYTHONPATH=. python3 benchmarks/likeness_calibration.py --task denoise --8bit --limit 200 --out F.json
    PYTHONPATH=. python3 benchmarks/likeness_calibration.py --task denoise --checkpoint glow-denoise-aware --8bit ...

For each image of --faces (in distribution) and --unusual (out of distribution): simulate the
--task measurement (noise seeded by file name, as `restore --degrade` does), restore it with the
shipped solver, and score the restoration (what `restore` scores) and the clean image under
celeba-prior at its framing (flowrestore.likeness.score). Also records each image's PNG size in
bits/dim, for the input-complexity correction of Serra et al. (2020), S = bpd - png_bpd.

Prints, for each score, the AUROC in both directions (the probability that a random unusual
image scores higher, or lower, than a random face), the flag's limits (the faces' 97.5th
percentile of the restoration's bpd and 0.9 times its 0.5th, and the 2.5th and 97.5th of its complexity-corrected score
S = bpd - PNG bpd), and the flag's false-alarm rate on the faces and miss rate on the unusual
images.
`--sigma` gives the measurement noise levels (default: the task's own); with several, the images
of each folder are dealt out among them in turn, so a model that serves a range of noise (the
noise-aware deblurrer: 0 to 0.02) is calibrated across it at the same cost; the limits then take
in each level's range of restored faces.
`--report FILE` recomputes the report from a JSON file written by `--out`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from flowrestore.checkpoints import load
from flowrestore.imageio import read_image
from flowrestore.likeness import PRIOR, png_bits_per_dim, score
from flowrestore.operators import TaskSpec, image_seed, quantize_8bit
from flowrestore.restore import simulate, solve
from flowrestore.solving import sigma_floor, told_sigma


def score_folder(folder: Path, solver, prior, task: TaskSpec, limit: int | None, batch: int,
                 eight_bit: bool = False, sigmas: list[float] | None = None) -> dict:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")[:limit]
    levels = sigmas or [task.noise_sigma]
    out: dict = {"names": [], "restored": [], "clean": [], "png": [], "png_restored": [], "sigma": []}
    for k, level in enumerate(levels):
        part = score_paths(paths[k :: len(levels)], solver, prior, replace(task, noise_sigma=level), batch, eight_bit)
        for key, values in part.items():
            out[key] += values
        out["sigma"] += [level] * len(part["names"])
        print(f"{folder.name}: sigma {level:g} done", flush=True)
    return out


def score_paths(paths: list[Path], solver, prior, task: TaskSpec, batch: int, eight_bit: bool) -> dict:
    out = {"names": [], "restored": [], "clean": [], "png": [], "png_restored": []}
    for start in range(0, len(paths), batch):
        chunk = paths[start : start + batch]
        x = torch.stack([read_image(p).rgb for p in chunk])
        y = simulate(x, task, None, [image_seed(p.name, 0) for p in chunk])
        if eight_bit:
            y = quantize_8bit(y)  # as users' files hold their measurements
        # Clipped measurements are censored as `restore` does for files.
        # a noise-aware deblurrer hears the storage; a denoiser with a sigma floor hears restore's smallest
        # estimate for a clean image
        level = task.noise_sigma or (1e-3 if sigma_floor(solver) else None)
        sigma = told_sigma(solver, level, eight_bit)
        x_hat = solve(solver, y, task, sigma=sigma, clipped=eight_bit)
        out["names"] += [p.name for p in chunk]
        out["restored"] += score(prior, x_hat).tolist()
        out["clean"] += score(prior, x).tolist()
        out["png"] += [png_bits_per_dim(image) for image in x]
        out["png_restored"] += [png_bits_per_dim(image) for image in x_hat]
    return out


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(outside > inside) + P(tie) / 2: how well 'larger is more unusual' separates the two."""
    greater = (outside[:, None] > inside[None, :]).mean()
    ties = (outside[:, None] == inside[None, :]).mean()
    return float(greater + ties / 2)


LOW, HIGH = 0.025, 0.975  # the limits: these quantiles of the faces' restored scores
LOWEST = 0.005  # ... and this one of their bits/dim, times FLOOR_MARGIN: simpler than any restored face
FLOOR_MARGIN = 0.9  # 200 faces pin the low tail loosely; flat or smooth images lie far below it


def limits(bpd: np.ndarray, s: np.ndarray) -> tuple[float, float, float, float]:
    """(bits/dim min, max, S min, max) of restored faces: the flag's limits (see LOW, HIGH, LOWEST)."""
    return (FLOOR_MARGIN * float(np.quantile(bpd, LOWEST)), float(np.quantile(bpd, HIGH)),
            float(np.quantile(s, LOW)), float(np.quantile(s, HIGH)))


def report(faces: dict, unusual: dict) -> dict:
    """AUROC of each score in both directions, the flag's limits, and its false alarms and misses:
    the restoration's bpd above the faces' 97.5th percentile, or its complexity-corrected score
    outside their 2.5-97.5 % range."""
    a = {k: np.array(v) for k, v in faces.items() if k not in ("names", "sigma")}
    b = {k: np.array(v) for k, v in unusual.items() if k not in ("names", "sigma")}
    scores = {
        "restored bpd": (a["restored"], b["restored"]),
        "clean bpd": (a["clean"], b["clean"]),
        "restored bpd - restored png bpd": (a["restored"] - a["png_restored"], b["restored"] - b["png_restored"]),
        "clean bpd - clean png bpd": (a["clean"] - a["png"], b["clean"] - b["png"]),
    }
    rows: dict = {}
    for name, (f, u) in scores.items():
        rows[name] = {"faces mean": float(f.mean()), "unusual mean": float(u.mean()),
                      "AUROC, high = unusual": auroc(f, u), "AUROC, low = unusual": auroc(-f, -u)}  # fmt: skip
    (fb, ub), (fs, us) = scores["restored bpd"], scores["restored bpd - restored png bpd"]
    # With several noise levels, each level's faces give their own range and the limits take in all of
    # them: a restoration is unusual only if it is unlike the faces restored at every level.
    levels = np.array(faces.get("sigma", [0.0] * len(fb)))
    ranges = [limits(fb[levels == level], fs[levels == level]) for level in sorted(set(levels.tolist()))]
    bpd_min, bpd_max = min(r[0] for r in ranges), max(r[1] for r in ranges)
    s_min, s_max = min(r[2] for r in ranges), max(r[3] for r in ranges)

    def flagged(bpd, s):
        return (bpd < bpd_min) | (bpd > bpd_max) | (s < s_min) | (s > s_max)

    rows["limits"] = {"bits/dim min": bpd_min, "bits/dim max": bpd_max, "S min": s_min, "S max": s_max}
    rows["flag"] = {"false alarms": float(flagged(fb, fs).mean()), "misses": float(1 - flagged(ub, us).mean()),
                    "faces": len(fb), "unusual": len(ub)}  # fmt: skip
    by_bpd = lambda bpd: (bpd < bpd_min) | (bpd > bpd_max)  # noqa: E731 (the same limits, the S range left out)
    rows["flag, bits/dim only"] = {"false alarms": float(by_bpd(fb).mean()), "misses": float(1 - by_bpd(ub).mean())}
    # The clean images judged by the same rule (likeness.CLEAN_LIMITS: restore --degrade scores its clean inputs)
    (cb, cub), (cs, cus) = scores["clean bpd"], scores["clean bpd - clean png bpd"]
    low, high, s_low, s_high = limits(cb, cs)
    outside = lambda bpd, s: (bpd < low) | (bpd > high) | (s < s_low) | (s > s_high)  # noqa: E731
    rows["clean limits"] = {"bits/dim min": low, "bits/dim max": high, "S min": s_low, "S max": s_high}
    rows["clean flag"] = {"false alarms": float(outside(cb, cs).mean()), "misses": float(1 - outside(cub, cus).mean())}
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path("/work/shared/data/celeba64/val"))
    parser.add_argument("--unusual", type=Path, default=Path("/work/shared/data/anime64/test"))
    parser.add_argument("--task", default="denoise")
    parser.add_argument("--checkpoint", help="registry name of the solver (default: glow-<task>)")
    parser.add_argument("--limit", type=int, help="at most this many images per folder")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the scores and the report as JSON")
    parser.add_argument("--8bit", dest="eight_bit", action="store_true",
                        help="measurements clipped and rounded to 8 bits, as image files hold them")
    parser.add_argument("--report", type=Path, help="only recompute the report from this --out file")
    parser.add_argument("--sigma", type=float, nargs="+", help="measurement noise levels (default: the task's)")
    args = parser.parse_args(argv)
    if args.report:
        saved = json.loads(args.report.read_text())
        print(json.dumps(report(saved["faces"], saved["unusual"]), indent=1))
        return 0
    torch.set_num_threads(args.threads)
    loaded = load(args.checkpoint or f"glow-{args.task}", args.task)
    solver = loaded.model
    task = TaskSpec.from_dict(loaded.metadata["task"])  # the operator the model was trained for, as restore runs it
    prior = load(PRIOR).model.eval()
    faces = score_folder(args.faces, solver, prior, task, args.limit, args.batch, args.eight_bit, args.sigma)
    unusual = score_folder(args.unusual, solver, prior, task, args.limit, args.batch, args.eight_bit, args.sigma)
    rows = report(faces, unusual)
    print(f"\n{len(faces['names'])} faces ({args.faces}), {len(unusual['names'])} unusual ({args.unusual}), "
          f"task {task.label()}")
    print(json.dumps(rows, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"task": task.to_dict(), "report": rows, "faces": faces, "unusual": unusual}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
