"""Images/s of one pretrain step and one fine-tune step, per GLOW preset, device and precision.

    python benchmarks/train_speed.py --device cpu --presets compact --seconds 20
    python benchmarks/train_speed.py --device cuda --presets compact paper --precision fp32 bf16
    python benchmarks/train_speed.py --device cuda --finetune-batch 32 256 512 --cuda-graph
    python benchmarks/train_speed.py --device cuda --presets paper --stages pretrain --pretrain-batch 64 --cuda-graph

Randomly initialised models on random images; each cell runs warm-up steps, then as many
timed steps as fit in --seconds (at least --min-steps). Prints a Markdown table. The fine-tune
step is timed with and without memory saving at the first --finetune-batch, and without it at
the others; --cuda-graph adds each whole step (forward, backward, clipping, Adam) recorded as one CUDA
graph and replayed, as `flowrestore pretrain|finetune --cuda-graph` train (flowrestore.training.graphed).
"""

from __future__ import annotations

import argparse
import time

import torch

from flowrestore.devices import exact_float32
from flowrestore.flow import Glow, bits_per_dim, preset
from flowrestore.operators import Denoise
from flowrestore.solver import SolverConfig, UnrolledSolver
from flowrestore.training.graphed import GraphedStep


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_steps(step, device, seconds: float, min_steps: int, warmup: int) -> tuple[float, int]:
    for _ in range(warmup):
        step()
    _sync(device)
    start, n = time.perf_counter(), 0
    while n < min_steps or time.perf_counter() - start < seconds:
        step()
        n += 1
        if n >= min_steps and time.perf_counter() - start >= seconds:
            break
    _sync(device)
    return time.perf_counter() - start, n


def pretrain_step(name: str, batch: int, device: torch.device, bf16: bool, graph: bool = False):
    """One pretrain step as training takes it (gradients clipped at 50); with `graph`, recorded once and
    replayed, as `pretrain --cuda-graph` trains."""
    model = Glow(preset(name)).to(device)
    x = torch.rand(batch, 3, 64, 64, device=device)
    model(x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def loss_fn(x):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=not graph):
            z, ladj = model(x)
        return bits_per_dim(sum((-0.5 * zi.float() ** 2).flatten(1).sum(1) for zi in z) + ladj.float(),
                            x[0].numel()).mean()

    if graph:
        graphed = GraphedStep(loss_fn, opt, max_grad_norm=50.0)
        return lambda: graphed(x=x)

    def step():
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 50.0)
        opt.step()

    return step


def finetune_step(name: str, batch: int, device: torch.device, bf16: bool, memory_saving: bool,
                  graph: bool = False, compiled: bool = False):
    """One fine-tune step as training takes it (gradients clipped at 10); with `graph`, through
    flowrestore.training.graphed, recorded once and replayed, as `finetune --cuda-graph` trains; with
    `compiled`, the solver's forward through torch.compile (its compilation is part of the warm-up)."""
    prior = Glow(preset(name)).to(device)
    x = torch.rand(batch, 3, 64, 64, device=device)
    prior(x)
    solver = UnrolledSolver.from_prior(prior, SolverConfig(folds=4), memory_saving=memory_saving).to(device)
    op = Denoise()
    y = x + 0.2 * torch.randn_like(x)
    opt = torch.optim.Adam(solver.parameters(), lr=1e-5)
    forward = torch.compile(solver) if compiled else solver

    def loss_fn(x, y):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=not graph):
            out = forward(y, op)
        return ((out.float() - x) ** 2).mean()

    if graph:
        graphed = GraphedStep(loss_fn, opt, max_grad_norm=10.0)
        return lambda: graphed(x=x, y=y)

    def step():
        loss = loss_fn(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(solver.parameters(), 10.0)
        opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--presets", nargs="+", default=["compact"])
    ap.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    ap.add_argument("--pretrain-batch", type=int, default=None, help="default: 256 on CUDA, 16 on CPU")
    ap.add_argument("--finetune-batch", type=int, nargs="+", default=None, help="default: 64 on CUDA, 8 on CPU")
    ap.add_argument("--cuda-graph", action="store_true", help="also time the steps recorded as CUDA graphs")
    ap.add_argument("--compile", action="store_true", help="also time the fine-tune step with torch.compile")
    ap.add_argument("--stages", nargs="+", default=["pretrain", "finetune"], choices=["pretrain", "finetune"])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--min-steps", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    pb = args.pretrain_batch or (256 if cuda else 16)
    batches = args.finetune_batch or [64 if cuda else 8]
    if cuda:
        exact_float32()  # as training runs (flowrestore.devices.pick_device); the 2026-11-26 table had TF32 on
        torch.backends.cudnn.benchmark = True
    name_dev = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name_dev}; torch {torch.__version__}\n")
    print("| preset | stage | precision | batch | memory-saving | images/s | steps timed |")
    print("|---|---|---|---|---|---|---|")
    for name in args.presets:
        for precision in args.precision:
            bf16 = precision == "bf16"
            cells = []
            if "pretrain" in args.stages:
                cells.append(("pretrain", pb, None, lambda: pretrain_step(name, pb, device, bf16)))
                if args.cuda_graph and cuda:
                    cells.append(("pretrain, CUDA graph", pb, None,
                                  lambda: pretrain_step(name, pb, device, bf16, graph=True)))
            if "finetune" in args.stages:
                cells.append(("finetune (4 folds)", batches[0], True,
                              lambda: finetune_step(name, batches[0], device, bf16, True)))
                for fb in batches:
                    cells.append(("finetune (4 folds)", fb, False,
                                  lambda fb=fb: finetune_step(name, fb, device, bf16, False)))
            if "finetune" in args.stages and args.compile:
                for fb in batches:
                    cells.append(("finetune (4 folds), torch.compile", fb, False,
                                  lambda fb=fb: finetune_step(name, fb, device, bf16, False, compiled=True)))
            if "finetune" in args.stages and args.cuda_graph and cuda:
                for fb in batches:
                    cells.append(("finetune (4 folds), CUDA graph", fb, False,
                                  lambda fb=fb: finetune_step(name, fb, device, bf16, False, graph=True)))
            for stage, batch, ms, make in cells:
                try:
                    seconds, n = _time_steps(make(), device, args.seconds, args.min_steps, args.warmup)
                    rate = f"{batch * n / seconds:.1f}"
                except torch.OutOfMemoryError:
                    rate, n = "out of memory", 0
                except RuntimeError as error:  # e.g. an operation that cannot be captured in a graph
                    rate, n = f"failed: {str(error).splitlines()[0][:80]}", 0
                ms_txt = "-" if ms is None else ("on" if ms else "off")
                print(f"| {name} | {stage} | {precision} | {batch} | {ms_txt} | {rate} | {n} |", flush=True)
                if cuda:
                    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
