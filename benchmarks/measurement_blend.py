"""Fit the measurement blend's error floor eps of a noise-aware denoiser on validation faces.

    PYTHONPATH=. python3 benchmarks/measurement_blend.py --data ../shared/data/celeba64/val --limit 128

The denoiser restores 8-bit clipped measurements at each --levels sigma (0: a clean face), told
max(sigma, its sigma_floor or else the bottom of its trained range), with its own blend switched off.
Its output x_hat is then blended with the measurement, x_hat + w (y - x_hat), for w = 1 / (1 + (sigma / eps)^p)
over a grid of eps and p (p = 2: the linear MMSE weight eps^2 / (eps^2 + sigma^2)), and, as an oracle, for
the best single w per level; for a model that starts from a Wiener estimate, also with that estimate in place
of y. Prints mean PSNR (dB) per level as a Markdown table and the target and (eps, p) with the best mean over
--fit-levels: SolverConfig.blend_towards, blend_error and blend_power (docs/method.md, measurement blend). By
default those are the levels of the denoise-low and denoise-sweep experiments (0.005-0.3): the sweep's alone
(0.05-0.3) leave out the low noise where the blend acts, and once the folds are good at 0.05 they cannot tell
the targets apart.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from flowrestore.benchmark.datasets import load_images
from flowrestore.benchmark.experiments import EXPERIMENTS
from flowrestore.metrics import psnr_each
from flowrestore.operators import Denoise, gaussian_noise, quantize_8bit
from flowrestore.operators.censored import censored
from flowrestore.serialization import load_model, with_config

ROOT = Path(__file__).resolve().parents[1]
ORACLE_W = [i / 20 for i in range(21)]
FIT_LEVELS = sorted({setting.spec.noise_sigma for name in ("denoise-low", "denoise-sweep")
                     for setting in EXPERIMENTS[name].settings})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / ".data" / "val"))
    ap.add_argument("--limit", type=int, default=128)
    ap.add_argument("--levels", type=float, nargs="+", default=[0.0, *FIT_LEVELS])
    ap.add_argument("--fit-levels", type=float, nargs="+", default=FIT_LEVELS)
    ap.add_argument("--eps", type=float, nargs="+", default=[round(0.002 * i, 3) for i in range(5, 41)])
    ap.add_argument("--powers", type=float, nargs="+", default=[2, 2.5, 3, 4, 6])
    ap.add_argument("--checkpoint", default=str(ROOT / "flowrestore" / "weights" / "glow-denoise-aware.safetensors"))
    ap.add_argument("--write", type=Path, help="write the checkpoint with the fitted eps (and its sigma floor) here, "
                    "its tensors unchanged: a candidate for scripts/ship_candidate.py")
    args = ap.parse_args()
    loaded = load_model(args.checkpoint)
    model = loaded.model.eval()
    # the folds' own output, at no less than the bottom of the trained range (files from before
    # SolverConfig.sigma_floor record the range in their metadata only)
    floor = model.config.sigma_floor or loaded.metadata["sigma_range"][0]
    model.config = replace(model.config, blend_error=0.0, sigma_floor=floor)
    targets = ["measurement"] + (["wiener"] if model.config.initial_guess == "wiener" else [])
    x = load_images(args.data, limit=args.limit).images
    scores: dict[float, dict] = {}
    for level in sorted(set(args.levels) | set(args.fit_levels)):
        noise = torch.stack([gaussian_noise(tuple(x.shape[1:]), level, 500 + i) for i in range(len(x))]) if level else 0
        y = quantize_8bit(x + noise)
        sigma = torch.full((len(x),), max(level, 1e-3))
        with torch.no_grad():
            x_hat = model(y, censored(Denoise(), sigma), sigma=sigma).clamp(0, 1)
        mean = lambda estimate: float(psnr_each(estimate.clamp(0, 1), x).mean())  # noqa: E731
        other = {"measurement": y}
        if "wiener" in targets:  # what the model starts from, for the sigma it was told
            other["wiener"] = model.initial_guess(y, Denoise(), sigma=sigma)
        scores[level] = {
            "y": mean(y), "model": mean(x_hat), **({"wiener": mean(other["wiener"])} if "wiener" in other else {}),
            "eps": {(t, eps, p): mean(x_hat + 1 / (1 + (level / eps) ** p) * (other[t] - x_hat))
                    for t in targets for eps in args.eps for p in args.powers},
            "oracle": {t: max((mean(x_hat + w * (other[t] - x_hat)), w) for w in ORACLE_W) for t in targets},
        }
    fit = {key: sum(scores[level]["eps"][key] for level in args.fit_levels) / len(args.fit_levels)
           for key in scores[args.fit_levels[0]]["eps"]}
    best_of = {t: max((key for key in fit if key[0] == t), key=fit.get) for t in targets}
    best = max(best_of.values(), key=fit.get)
    without = sum(scores[v]["model"] for v in args.fit_levels) / len(args.fit_levels)
    print(f"{len(x)} images of {args.data}; {Path(args.checkpoint).name} (sigma floor {floor:g}); mean over sigma "
          f"{', '.join(f'{v:g}' for v in args.fit_levels)}: without the blend {without:.3f} dB; "
          + "; ".join(f"towards {t}: best eps {k[1]:g} p {k[2]:g} {fit[k]:.3f}" for t, k in best_of.items()) + "\n")
    columns = list(best_of.values())
    print("| sigma | measurement y | " + ("Wiener estimate | " if "wiener" in targets else "") + "model | "
          + " | ".join(f"towards {t}, eps {e:g}, p {p:g}" for t, e, p in columns)
          + " | " + " | ".join(f"towards {t}, best single w (oracle)" for t in targets) + " |")
    print("|---" * (3 + ("wiener" in targets) + len(columns) + len(targets)) + "|")
    for level in args.levels:
        s = scores[level]
        print(f"| {level:g} | {s['y']:.2f} | " + (f"{s['wiener']:.2f} | " if "wiener" in s else "")
              + f"{s['model']:.2f} | " + " | ".join(f"{s['eps'][c]:.2f}" for c in columns) + " | "
              + " | ".join(f"{s['oracle'][t][0]:.2f} (w = {s['oracle'][t][1]:g})" for t in targets) + " |")
    if args.write:
        target, eps, power = best
        with_config(Path(args.checkpoint), args.write, blend_error=eps, blend_power=power, blend_towards=target,
                    sigma_floor=floor)
        print(f"\nwrote {args.write} (blend towards the {target}, blend_error {eps:g}, blend_power {power:g}, "
              f"sigma_floor {floor:g})")


if __name__ == "__main__":
    main()
