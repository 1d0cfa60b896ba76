"""Calibrate the face-likeness flag: bits/dim under celeba-prior of CelebA validation faces against anime faces.

    PYTHONPATH=. python3 benchmarks/likeness_calibration.py --out docs/likeness.json

For each image of --faces (in distribution) and --unusual (out of distribution): simulate the
--task measurement (noise seeded by file name, as `restore --degrade` does), restore it with the
shipped solver, and score the restoration (what `restore` scores) and the clean image under
celeba-prior at its framing (flowrestore.likeness.score). Also records each image's PNG size in
bits/dim, for the input-complexity correction of Serra et al. (2020), S = bpd - png_bpd.

Prints, for each score, the AUROC (probability that a random unusual image scores higher than
a random face), and for limits at the 90th, 95th and 99th percentiles of the faces' restored
scores, the false-alarm rate on the faces and the miss rate on the unusual images.
`--report FILE` recomputes the report from a JSON file written by `--out`.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from flowrestore.checkpoints import load
from flowrestore.imageio import read_image
from flowrestore.likeness import PRIOR, score
from flowrestore.operators import TaskSpec, image_seed
from flowrestore.restore import simulate, solve


def png_bits_per_dim(rgb: torch.Tensor) -> float:
    pixels = (rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return 8 * buffer.tell() / pixels.size


def score_folder(folder: Path, solver, prior, task: TaskSpec, limit: int | None, batch: int) -> dict:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")[:limit]
    out = {"names": [], "restored": [], "clean": [], "png": []}
    for start in range(0, len(paths), batch):
        chunk = paths[start : start + batch]
        x = torch.stack([read_image(p).rgb for p in chunk])
        y = simulate(x, task, None, [image_seed(p.name, 0) for p in chunk])
        x_hat = solve(solver, y, task)
        out["names"] += [p.name for p in chunk]
        out["restored"] += score(prior, x_hat).tolist()
        out["clean"] += score(prior, x).tolist()
        out["png"] += [png_bits_per_dim(image) for image in x]
        print(f"{folder.name}: {start + len(chunk)}/{len(paths)}", flush=True)
    return out


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(outside > inside) + P(tie) / 2: how well 'larger is more unusual' separates the two."""
    greater = (outside[:, None] > inside[None, :]).mean()
    ties = (outside[:, None] == inside[None, :]).mean()
    return float(greater + ties / 2)


QUANTILES = (0.90, 0.95, 0.99)  # candidate limits: these quantiles of the faces' restored scores


def report(faces: dict, unusual: dict) -> dict:
    """AUROC of each score, and for the restored bpd, false alarms and misses at each limit."""
    rows: dict = {}
    scores = {
        "restored bpd": (np.array(faces["restored"]), np.array(unusual["restored"])),
        "clean bpd": (np.array(faces["clean"]), np.array(unusual["clean"])),
        "restored bpd - png bpd": (
            np.array(faces["restored"]) - np.array(faces["png"]), np.array(unusual["restored"]) - np.array(unusual["png"])
        ),
        "clean bpd - png bpd": (
            np.array(faces["clean"]) - np.array(faces["png"]), np.array(unusual["clean"]) - np.array(unusual["png"])
        ),
    }  # fmt: skip
    for name, (f, u) in scores.items():
        rows[name] = {"faces mean": float(f.mean()), "unusual mean": float(u.mean()),
                      "AUROC, high = unusual": auroc(f, u)}  # fmt: skip
    f, u = scores["restored bpd"]
    rows["limits"] = [
        {"quantile": q, "limit": float(np.quantile(f, q)), "false alarms": float((f > np.quantile(f, q)).mean()),
         "misses": float((u <= np.quantile(f, q)).mean())}
        for q in QUANTILES
    ]  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path("/work/shared/data/celeba64/val"))
    parser.add_argument("--unusual", type=Path, default=Path("/work/shared/data/anime64/test"))
    parser.add_argument("--task", default="denoise")
    parser.add_argument("--limit", type=int, help="at most this many images per folder")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the scores and the report as JSON")
    parser.add_argument("--report", type=Path, help="only recompute the report from this --out file")
    args = parser.parse_args(argv)
    if args.report:
        saved = json.loads(args.report.read_text())
        print(json.dumps(report(saved["faces"], saved["unusual"]), indent=1))
        return 0
    torch.set_num_threads(args.threads)
    task = TaskSpec.default(args.task)
    solver = load(f"glow-{args.task}", args.task).model
    prior = load(PRIOR).model.eval()
    faces = score_folder(args.faces, solver, prior, task, args.limit, args.batch)
    unusual = score_folder(args.unusual, solver, prior, task, args.limit, args.batch)
    rows = report(faces, unusual)
    print(f"\n{len(faces['names'])} faces ({args.faces}), {len(unusual['names'])} unusual ({args.unusual}), "
          f"task {task.label()}")
    print(json.dumps(rows, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"task": task.to_dict(), "report": rows, "faces": faces, "unusual": unusual}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
