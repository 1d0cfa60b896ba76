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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from flowrestore.benchmark.map import LatentMAP, MapConfig
from flowrestore.flow import Glow, preset
from flowrestore.operators import Denoise, measure
from flowrestore.solver import SolverConfig, UnrolledSolver
from flowrestore.solving import noise_conditioned

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


# path -> (the solver's training flag, whether the process keeps freed memory)
PATHS = {"layers": (True, False), "folded": (False, False), "folded+keep": (False, True)}


def build_solver(name: str, checkpoint: str | None, device: str):
    if checkpoint is None:
        torch.manual_seed(0)
        return UnrolledSolver(SolverConfig(folds=4, prox_config=preset(name))).to(device)
    from flowrestore.checkpoints import load

    return load(checkpoint, device=device).model


def worker(args) -> int:
    """One path in its own process (the allocator setting is per process): warm up, save the
    output, then time one call per line read from stdin."""
    training, keep = PATHS[args.worker]
    if keep:
        from flowrestore.allocator import keep_freed_memory

        keep_freed_memory()
    solver = build_solver(args.preset_one, args.checkpoint, args.device_one).train(training)
    x = torch.rand(args.batch_one, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)).to(args.device_one)
    y = measure(x, Denoise(), 0.2, seed=1)
    # A noise-conditioned model (the shipped glow-denoise) is told the level it restores at.
    given = {"sigma": 0.2} if noise_conditioned(solver) else {}
    with torch.no_grad():
        if not training:
            solver.train()(y, Denoise(), **given)  # initialise ActNorm of a random model as the layers path does
            solver.eval()
        torch.save(solver(y, Denoise(), **given).cpu(), args.output)  # warm-up (folds the weights)
        print("ready", flush=True)
        for _ in sys.stdin:
            print(_time(lambda: solver(y, Denoise(), **given), args.device_one), flush=True)
    return 0


def solver_speed(args, name: str, batch: int, device: str, per_image_hint: float | None):
    """{path: (images per second, timed calls)} and each path's largest difference from the
    layers' output, or None when the configuration would not fit the limit.

    The paths run in separate processes, one call at a time in turn, so that they meet the same
    load on a shared machine."""
    if per_image_hint is not None and per_image_hint * len(PATHS) * batch > args.time_limit:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        workers, outputs = {}, {}
        for path in PATHS:
            outputs[path] = Path(tmp) / f"{path}.pt"
            command = [sys.executable, __file__, "--worker", path, "--preset-one", name, "--batch-one", str(batch),
                       "--device-one", device, "--output", str(outputs[path])]  # fmt: skip
            command += ["--checkpoint", args.checkpoint] if args.checkpoint else []
            command += ["--threads", str(args.threads)] if args.threads else []
            workers[path] = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert workers[path].stdout.readline().strip() == "ready", f"{path}: the worker failed"
        times: dict[str, list[float]] = {path: [] for path in PATHS}
        spent = lambda: sum(map(sum, times.values()))  # noqa: E731
        while len(times["layers"]) < args.repeats and (
            not spent() or spent() * (1 + 1 / len(times["layers"])) <= args.time_limit
        ):
            for path, process in workers.items():
                process.stdin.write("go\n")
                process.stdin.flush()
                times[path].append(float(process.stdout.readline()))
        for process in workers.values():
            process.stdin.close()
            process.wait()
        reference = torch.load(outputs["layers"])
        diffs = {path: float((torch.load(f) - reference).abs().max()) for path, f in outputs.items()}
    speeds = {path: (batch * len(t) / sum(t), len(t)) for path, t in times.items()}
    return speeds, diffs


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
    for hidden in ("--worker", "--preset-one", "--device-one", "--output"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--batch-one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        return worker(args)
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
            params = sum(p.numel() for p in build_solver(name, args.checkpoint, device).parameters())
            hint = None
            for batch in batches:
                found = solver_speed(args, name, batch, device, hint)
                row = f"| {name} | {params / 1e6:.1f}M | {device} |"
                if found is None:
                    print(f"{row} unrolled, K=4 | {batch} | skipped (≈{hint * 3 * batch:.0f} s per call > limit) | | | | |")
                    continue
                speeds, diffs = found
                hint = hint or 1 / speeds["layers"][0]
                for path, (ips, calls) in speeds.items():
                    gain = f"{ips / speeds['layers'][0]:.2f}×" if path != "layers" else ""
                    shown = f"{diffs[path]:.1e}" if path != "layers" else ""
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
