"""Score a candidate checkpoint as the benchmark does: PSNR for task models, bits/dim for priors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from flowrestore.benchmark.datasets import load_images
from flowrestore.benchmark.experiments import SWEEPS
from flowrestore.benchmark.harness import BenchmarkConfig, run_benchmark
from flowrestore.benchmark.methods import method_for_checkpoint
from flowrestore.benchmark.report import summarize
from flowrestore.flow.glow import bits_per_dim
from flowrestore.serialization import load_model


@dataclass(frozen=True)
class Score:
    metric: str  # "psnr" (higher is better) or "bpd" (lower is better)
    value: float
    ssim: float | None = None
    images: int = 0
    ci95: float | None = None  # half-width of the benchmark's 95% (Student-t) interval of the mean

    def better_than(self, other: "Score | None", margin: float = 0.0) -> bool:
        """Whether this score beats `other` by more than `margin` (in its own units)."""
        if other is None:
            return True
        if self.metric == "psnr":
            return self.value > other.value + margin
        return self.value < other.value - margin


def solver_score(path: Path, name: str, task: str, dataset: str, device: str = "cpu", limit: int | None = None,
                 batch_size: int = 64, sweep: bool = False, eight_bit: bool = False) -> Score:
    """Mean PSNR/SSIM of the task model at `path` on its Table I setting, through the benchmark
    itself (the same seeded measurements as `flowrestore benchmark --method glow`).

    `sweep`: the mean over the task's sweep instead, the protocol for conditioned models: the denoising
    sweep's noise levels (0.05 to 0.30, each model given the level) or the deblurring sweep's sigma_b.
    `eight_bit`: the measurements as 8-bit files hold them (`benchmark --8bit`).
    """
    method = method_for_checkpoint(name, task)
    config = BenchmarkConfig(experiment=SWEEPS[task] if sweep else "table1", dataset=dataset, tasks=(task,),
                             methods=(method,), limit=limit, device=device, batch_size=batch_size, examples=0,
                             eight_bit=eight_bit)
    result = run_benchmark(config, checkpoints={name: Path(path)})
    cells = [c for c in summarize(result) if c.method == method]
    if not cells:
        raise RuntimeError(f"the benchmark did not run {path}: {'; '.join(result.notes)}")
    if len(cells) == 1:
        (cell,) = cells
        return Score("psnr", cell.psnr, cell.ssim, cell.n, cell.psnr_ci)
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    return Score("psnr", mean([c.psnr for c in cells]), mean([c.ssim for c in cells]), cells[0].n)


@torch.no_grad()
def prior_score(path: Path, dataset: str, device: str = "cpu", limit: int | None = None, seed: int = 0) -> Score:
    """Bits per dimension of the prior at `path` on 8-bit images, dequantised with a fixed seed."""
    prior = load_model(path, device).model.eval()
    images = load_images(dataset, limit).images  # (N, C, H, W) in [0, 1], multiples of 1/255
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for start in range(0, images.shape[0], 128):
        x = images[start : start + 128]
        x = (torch.round(x * 255) + torch.rand(x.shape, generator=g)) / 256
        dims = x[0].numel()
        total += float(bits_per_dim(prior.log_prob(x.to(device)), dims).sum())
    return Score("bpd", total / images.shape[0], images=images.shape[0])
