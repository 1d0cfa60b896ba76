"""Peak memory of one training step of the unrolled GLOW solver, memory-saving backprop on and off.

Each (folds, mode) configuration runs in a fresh subprocess, so no configuration inherits
another's allocator state. In the subprocess: build the solver and an Adam optimiser, run
one warm-up step (ActNorm's data-dependent initialisation, .grad buffers, Adam's moments),
then measure one step: forward, MSE loss, backward, optimiser step.

What is reported:
- params+opt: parameters, their .grad buffers and Adam's two moments, which live across steps.
- peak activation: the most memory the measured step holds on top of that (and of the input
  batch), which is what memory-saving backprop is about.
  On CPU it is the peak of the bytes allocated by PyTorch's CPU allocator during the step and
  not yet freed, as reported by `torch.profiler` with `profile_memory=True` (the "Total
  Allocated" of its [memory] events). On CUDA it is torch.cuda.max_memory_allocated() after
  reset_peak_memory_stats(), minus memory_allocated() at the start of the step.
- RSS growth (CPU only, a cross-check): the process's peak resident set size during an
  unprofiled step (VmHWM, reset by writing 5 to /proc/self/clear_refs) minus its resident set
  size before the step, with glibc's mmap threshold pinned low so that freed tensors go back to
  the operating system instead of being reused from the heap unseen. It also counts memory
  that does not go through PyTorch's allocator (oneDNN scratch space, Python objects).

Usage (from the repository root):
    PYTHONPATH=. python3 benchmarks/memory.py --device cpu --batch 16 --folds 1 2 4 8
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

MB = 2**20
RATIO_TARGET = 3.0  # plain autograd needs at least this many times the memory-saving path, at 4 folds
GROWTH_TARGET = 0.15  # the memory-saving path grows by at most this much from 4 to 8 folds


# ----------------------------------------------------------------------------- one configuration


def _build(args):
    import torch

    from flowrestore.flow import preset
    from flowrestore.operators import Denoise, measure
    from flowrestore.solver import SolverConfig, UnrolledSolver

    torch.manual_seed(0)
    device = torch.device(args.device)
    config = SolverConfig(folds=args.folds_one, prox_config=preset(args.preset))
    solver = UnrolledSolver(config, memory_saving=args.mode == "saving").to(device)
    # foreach=False: Adam's temporaries stay per parameter on every device (foreach would
    # allocate copies of all moments at once on CUDA and blur the activation peak).
    optimizer = torch.optim.Adam(solver.parameters(), lr=1e-5, foreach=False)
    operator = Denoise().to(device)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(device)
    y = measure(x, operator, noise_sigma=0.2, seed=1)  # not clipped, as in training
    return solver, optimizer, operator, x, y


def _train_step(solver, optimizer, operator, x, y) -> None:
    import torch

    optimizer.zero_grad(set_to_none=False)  # keep .grad buffers: they belong to params+opt
    loss = torch.nn.functional.mse_loss(solver(y, operator), x)
    loss.backward()
    optimizer.step()


def _persistent_bytes(solver, optimizer) -> int:
    import torch

    total = 0
    for p in solver.parameters():
        total += p.numel() * p.element_size()
        if p.grad is not None:
            total += p.grad.numel() * p.grad.element_size()
    for state in optimizer.state.values():
        for v in state.values():
            if isinstance(v, torch.Tensor):
                total += v.numel() * v.element_size()
    return total


def _status_kb(key: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))


def _rss_growth(step) -> float | None:
    """Peak RSS during step() minus RSS before it, in bytes; None where Linux cannot reset the peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    before = _status_kb("VmRSS")
    step()
    return (_status_kb("VmHWM") - before) * 1024


def _profiled_peak(step) -> int:
    """Peak of live bytes allocated by PyTorch's CPU allocator during step()."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        events = json.loads(Path(path).read_text())["traceEvents"]
    memory = sorted(
        (e for e in events if e.get("name") == "[memory]" and e["args"].get("Device Type") == 0),
        key=lambda e: e["ts"],
    )
    if not memory:
        return 0
    # The allocator's running total outlives a profiling session: count from its first value.
    first = memory[0]["args"]
    start = first["Total Allocated"] - first["Bytes"]
    return max(e["args"]["Total Allocated"] for e in memory) - start


def measure_one(args) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    solver, optimizer, operator, x, y = _build(args)
    step = lambda: _train_step(solver, optimizer, operator, x, y)  # noqa: E731
    step()  # warm-up
    gc.collect()
    result = {"folds": args.folds_one, "mode": args.mode, "persistent": _persistent_bytes(solver, optimizer)}
    if args.device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        result["activation"] = torch.cuda.max_memory_allocated() - start
        result["rss"] = None
    else:
        result["rss"] = _rss_growth(step)
        gc.collect()
        result["activation"] = _profiled_peak(step)
    return result


# ----------------------------------------------------------------------------- the table


def run_subprocess(args, folds: int, mode: str) -> dict:
    cmd = [
        sys.executable, __file__, "--worker",
        "--device", args.device, "--batch", str(args.batch), "--preset", args.preset,
        "--size", str(args.size), "--folds-one", str(folds), "--mode", mode,
    ]  # fmt: skip
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    # A fixed mmap threshold turns off glibc's adaptive one, so tensors of 64 KiB and more are
    # mapped on allocation and unmapped on free: RSS then follows live memory.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{folds} folds, {mode}: the worker failed\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mb(v) -> str:
    return "–" if v is None else f"{v / MB:.1f}"


def table(results: list[dict]) -> str:
    by = {(r["folds"], r["mode"]): r for r in results}
    lines = [
        "| folds | mode | peak activation MB | params+opt MB | RSS growth MB | ratio plain/saving |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        pair = by.get((r["folds"], "plain")), by.get((r["folds"], "saving"))
        ratio = f"{pair[0]['activation'] / pair[1]['activation']:.1f}×" if all(pair) else "–"
        lines.append(
            f"| {r['folds']} | {r['mode']} | {_mb(r['activation'])} | {_mb(r['persistent'])} "
            f"| {_mb(r['rss'])} | {ratio} |"
        )
    return "\n".join(lines)


def check_targets(results: list[dict]) -> list[tuple[str, bool | None, str]]:
    by = {(r["folds"], r["mode"]): r["activation"] for r in results}
    checks = []
    if (4, "plain") in by and (4, "saving") in by:
        ratio = by[4, "plain"] / by[4, "saving"]
        checks.append((f"4 folds: plain / saving ≥ {RATIO_TARGET:g}", ratio >= RATIO_TARGET, f"{ratio:.1f}×"))
    if (4, "saving") in by and (8, "saving") in by:
        growth = by[8, "saving"] / by[4, "saving"] - 1
        checks.append((f"saving path, 4 → 8 folds: growth ≤ {GROWTH_TARGET:.0%}", growth <= GROWTH_TARGET, f"{growth:+.1%}"))
    return checks


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--folds", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--preset", default="compact", help="GLOW preset: tiny, compact or paper")
    p.add_argument("--size", type=int, default=64, help="image height and width")
    p.add_argument("--threads", type=int, default=0, help="torch threads per worker (0: torch's default)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--folds-one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=["plain", "saving"], help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(measure_one(args)))
        return 0
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("--device cuda, but torch sees no CUDA device", file=sys.stderr)
            return 2
    results = []
    for folds in args.folds:
        for mode in ("plain", "saving"):
            results.append(run_subprocess(args, folds, mode))
            print(f"measured {folds} folds, {mode}", file=sys.stderr, flush=True)
    print(
        f"GLOW preset {args.preset}, batch {args.batch}, {args.size}x{args.size} RGB, denoising, "
        f"device {args.device}\n"
    )
    print(table(results))
    checks = check_targets(results)
    if checks:
        print()
    for name, ok, value in checks:
        print(f"- {name}: {value} -> {'met' if ok else 'NOT met'}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
