"""Restoring speed of the unrolled GLOW solver (and, with --map, of GLOW MAP) per preset, batch and device.

    python3 benchmarks/restore_speed.py --device cpu --repeats 3 --time-limit 60
    python3 benchmarks/restore_speed.py --device cuda --map
    python3 benchmarks/restore_speed.py --checkpoint glow-denoise --batch 64 --threads 2

Models are randomly initialised (speed does not depend on the weights), or the shipped
--checkpoint's: K = 4 folds, each an encode-shrink-decode of its own flow, on 64x64 RGB
denoising measurements, under no_grad. Each configuration runs two inference paths of the same
weights: `layers`, GLOW's own layers as training runs them (the solver in train mode), and
`folded`, what `model.eval()` under no_grad runs (flowrestore.flow.inference: actnorm and the
1x1 convolutions folded, channels_last). It gets one untimed warm-up call per path, then up to
--repeats timed calls per path, alternating between the paths so that both meet the same load
on a shared machine, while the time spent stays under --time-limit; a configuration whose
warm-up alone (extrapolated from batch 1) would exceed the limit is skipped. The `max |diff|`
column is the largest difference of the folded path's output from the layers' (pixels in [0, 1]). For MAP (--map) we time one objective evaluation
with its gradient on one image (the fastest of --repeats) and show Asim et al.'s budget of
20 L-BFGS steps x 20 iterations = 400 evaluations as a bound. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from flowrestore.benchmark.map import LatentMAP, MapConfig
from flowrestore.flow import Glow, preset
from flowrestore.operators import Denoise, measure
from flowrestore.solver import SolverConfig, UnrolledSolver

SIZE = 64


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


PATHS = {"layers": True, "folded": False}  # path -> the solver's training flag


def build_solver(name: str, checkpoint: str | None, device: str):
    if checkpoint is None:
        return UnrolledSolver(SolverConfig(folds=4, prox_config=preset(name))).to(device)
    from flowrestore.checkpoints import load

    return load(checkpoint, device=device).model


def solver_speed(solver, batch: int, device: str, repeats: int, limit: float, per_image_hint: float | None):
    """{path: (images per second, timed calls)} and the folded path's largest difference from the
    layers', or None when the configuration would not fit the limit."""
    if per_image_hint is not None and per_image_hint * len(PATHS) * batch > limit:
        return None
    x = torch.rand(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)).to(device)
    y = measure(x, Denoise(), 0.2, seed=1)
    outputs, times = {}, {path: [] for path in PATHS}
    with torch.no_grad():
        for path, training in PATHS.items():  # warm-up (also initialises actnorm and folds the weights)
            outputs[path] = solver.train(training)(y, Denoise())
        spent = lambda: sum(map(sum, times.values()))  # noqa: E731
        while len(times["folded"]) < repeats and (not spent() or spent() * (1 + 1 / len(times["folded"])) <= limit):
            for path, training in PATHS.items():
                solver.train(training)
                times[path].append(_time(lambda: solver(y, Denoise()), device))
    solver.eval()
    speeds = {path: (batch * len(t) / sum(t), len(t)) for path, t in times.items()}
    return speeds, float((outputs["folded"] - outputs["layers"]).abs().max())


def map_speed(name: str, device: str, repeats: int) -> float:
    """Seconds per image for one MAP objective evaluation with its gradient (decode + backward).

    L-BFGS's own stopping tests make MAP's count of evaluations depend on the weights (a freshly
    initialised GLOW decodes affinely, so MAP converges at once), so we time the evaluation and
    report Asim et al.'s budget, 20 steps x 20 iterations = 400 evaluations, as the bound.
    """
    prior = Glow(preset(name)).to(device)
    with torch.no_grad():
        prior(torch.rand(2, 3, SIZE, SIZE, device=device))  # initialise actnorm
    prior.eval().requires_grad_(False)
    y = measure(torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)).to(device), Denoise(), 0.2, 1)
    solver = LatentMAP(prior, MapConfig(), noise_sigma=0.2)
    z = tuple(t.requires_grad_(True) for t in solver.zeros(y))

    def evaluate() -> None:
        solver.objective(z, y, Denoise()).sum().backward()

    evaluate()  # warm-up
    return min(_time(evaluate, device) for _ in range(repeats))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", action="append", help="cpu, cuda, ... (repeatable; default: cpu, and cuda if available)")
    parser.add_argument("--preset", action="append", choices=["compact", "paper"], help="default: both")
    parser.add_argument("--batch", action="append", type=int, help="default: 1 and 64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds of timed calls per configuration")
    parser.add_argument("--map", action="store_true", help="also time GLOW MAP on one image")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--checkpoint", help="time this solver checkpoint's weights (registry name or path) instead")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    batches = sorted(args.batch or [1, 64])
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    for d in devices:
        if torch.device(d).type == "cuda":
            print(f"{d}: {torch.cuda.get_device_name(torch.device(d))}")
    print("\n| preset | parameters | device | method | batch | images / s | ms / image | timed calls | speed-up | max \\|diff\\| |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    names = [args.checkpoint] if args.checkpoint else args.preset or ["compact", "paper"]
    for name in names:
        for device in devices:
            solver = build_solver(name, args.checkpoint, device)
            params = sum(p.numel() for p in solver.parameters())
            hint = None
            for batch in batches:
                found = solver_speed(solver, batch, device, args.repeats, args.time_limit, hint)
                row = f"| {name} | {params / 1e6:.1f}M | {device} |"
                if found is None:
                    print(f"{row} unrolled, K=4 | {batch} | skipped (≈{hint * 2 * batch:.0f} s per call > limit) | | | | |")
                    continue
                speeds, diff = found
                hint = hint or 1 / speeds["layers"][0]
                for path, (ips, calls) in speeds.items():
                    gain = f"{ips / speeds['layers'][0]:.2f}×" if path == "folded" else ""
                    shown = f"{diff:.1e}" if path == "folded" else ""
                    print(f"{row} unrolled, K=4, {path} | {batch} | {ips:.2f} | {1000 / ips:.1f} | {calls} | {gain} | {shown} |")
            if args.checkpoint:
                continue
            params = sum(p.numel() for p in Glow(preset(name)).parameters()) * 4
            if args.map:
                seconds = map_speed(name, device, args.repeats)
                prior = f"| {name} | {params / 1e6 / 4:.1f}M | {device} |"
                print(f"{prior} MAP, one evaluation | 1 | {1 / seconds:.2f} | {1000 * seconds:.1f} | {args.repeats} | | |")
                print(f"{prior} MAP, 400 evaluations (bound) | 1 | {1 / (400 * seconds):.4f} | {400 * seconds * 1000:.0f} | – | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
