"""Restoring speed of the unrolled GLOW solver (and, with --map, of GLOW MAP) per preset, batch and device.

    python3 benchmarks/restore_speed.py --device cpu --repeats 3 --time-limit 60
    python3 benchmarks/restore_speed.py --device cuda --map

Models are randomly initialised (speed does not depend on the weights): K = 4 folds, each an
encode-shrink-decode of its own flow, on 64x64 RGB denoising measurements, under no_grad.
Each configuration gets one untimed warm-up call, then up to --repeats timed calls while the
time spent stays under --time-limit; a configuration whose warm-up alone (extrapolated from
batch 1) would exceed the limit is skipped. For MAP (--map) we time one objective evaluation
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


def solver_speed(name: str, batch: int, device: str, repeats: int, limit: float, per_image_hint: float | None):
    """(images per second, timed calls) or None when the configuration would not fit the limit."""
    if per_image_hint is not None and per_image_hint * batch > limit:
        return None
    solver = UnrolledSolver(SolverConfig(folds=4, prox_config=preset(name))).to(device).eval()
    x = torch.rand(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)).to(device)
    y = measure(x, Denoise(), 0.2, seed=1)
    with torch.no_grad():
        _time(lambda: solver(y, Denoise()), device)  # warm-up (also initialises actnorm)
        times: list[float] = []
        while len(times) < repeats and (not times or sum(times) + times[-1] <= limit):
            times.append(_time(lambda: solver(y, Denoise()), device))
    return batch * len(times) / sum(times), len(times)


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
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    batches = sorted(args.batch or [1, 64])
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    for d in devices:
        if torch.device(d).type == "cuda":
            print(f"{d}: {torch.cuda.get_device_name(torch.device(d))}")
    print("\n| preset | parameters | device | method | batch | images / s | ms / image | timed calls |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.preset or ["compact", "paper"]:
        params = sum(p.numel() for p in Glow(preset(name)).parameters()) * 4
        for device in devices:
            hint = None
            for batch in batches:
                speed = solver_speed(name, batch, device, args.repeats, args.time_limit, hint)
                row = f"| {name} | {params / 1e6:.1f}M | {device} | unrolled, K=4 | {batch} |"
                if speed is None:
                    print(f"{row} skipped (≈{hint * batch:.0f} s per call > limit) | | |")
                    continue
                ips, calls = speed
                hint = hint or 1 / ips
                print(f"{row} {ips:.2f} | {1000 / ips:.1f} | {calls} |")
            if args.map:
                seconds = map_speed(name, device, args.repeats)
                prior = f"| {name} | {params / 1e6 / 4:.1f}M | {device} |"
                print(f"{prior} MAP, one evaluation | 1 | {1 / seconds:.2f} | {1000 * seconds:.1f} | {args.repeats} |")
                print(f"{prior} MAP, 400 evaluations (bound) | 1 | {1 / (400 * seconds):.4f} | {400 * seconds * 1000:.0f} | – |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
