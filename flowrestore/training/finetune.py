"""Stage 2: the whole unrolled network trained end to end with MSE on corrupted-clean pairs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from flowrestore.flow.glow import Glow
from flowrestore.operators.measurement import measure_each
from flowrestore.operators.task import TaskSpec
from flowrestore.serialization import CheckpointError, load_model
from flowrestore.solver.prox import ResNetConfig, UNetConfig
from flowrestore.solver.unrolled import SolverConfig, UnrolledSolver
from flowrestore.training import data
from flowrestore.training.distributed import Context
from flowrestore.training.loop import Callback, LoopResult
from flowrestore.training.objective import ImageObjective, StageConfig, autocast, check_image_size, train

# Where the data step starts: mu = 1 makes x_tilde = y for denoising, which would cut
# every fold but the last off from the output; 0.5 averages estimate and measurement.
INITIAL_STEP_SIZE = {"denoise": 0.5, "inpaint": 1.0, "deblur": 1.0}


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig(StageConfig):
    task: TaskSpec
    out_dir: Path = Path("runs/finetune")
    prox: str = "glow"
    prior: Path | None = None  # GLOW prior checkpoint (required for prox="glow")
    init_from: Path | None = None  # a solver checkpoint whose prox weights start this run
    folds: int = 4
    plug_and_play: bool = False
    shrink_last: bool = True
    init_shrinkage: float = 0.05
    lr: float = 1e-5  # network weights (paper)
    lr_scalars: float = 1e-2  # step sizes mu and shrinkages lambda (paper)
    max_grad_norm: float | None = 10.0
    memory_saving: bool = True
    resnet: ResNetConfig = field(default_factory=ResNetConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)


def build_solver(config: FinetuneConfig) -> UnrolledSolver:
    base = SolverConfig(
        folds=config.folds,
        prox=config.prox,
        tied=config.plug_and_play,
        shrink_last=config.shrink_last,
        init_step_size=INITIAL_STEP_SIZE[config.task.task],
        init_shrinkage=config.init_shrinkage,
    )
    if config.prox == "glow":
        if config.prior is None:
            raise ValueError("the GLOW prox starts from a pre-trained prior: pass --prior PATH|NAME")
        prior = load_model(config.prior)
        if prior.kind != "glow":
            raise CheckpointError(f"{config.prior} is a {prior.kind} checkpoint, not a GLOW prior")
        assert isinstance(prior.model, Glow)
        solver = UnrolledSolver.from_prior(prior.model, base, memory_saving=config.memory_saving)
    else:
        if config.plug_and_play:
            raise ValueError("plug-and-play needs the GLOW prox (it shares one frozen prior)")
        prox_config = replace(config.resnet if config.prox == "resnet" else config.unet, channels=config.channels)
        solver = UnrolledSolver(replace(base, prox_config=prox_config), memory_saving=config.memory_saving)
    if config.init_from is not None:
        start = load_model(config.init_from).model
        if not isinstance(start, UnrolledSolver) or start.config.prox != config.prox:
            raise CheckpointError(f"{config.init_from} is not a {config.prox}-prox solver checkpoint")
        if start.config == solver.config:
            solver.load_state_dict(start.state_dict())  # continue a run: flows, mu and lambda
        else:
            for mine, theirs in zip(solver.proxes, start.proxes):
                mine.load_state_dict(theirs.state_dict())  # e.g. a denoiser's prox for another task
    return solver


class FinetuneObjective(ImageObjective):
    monitor = "val_psnr"
    higher_is_better = True
    stage = "finetune"

    def __init__(self, config: FinetuneConfig, ctx: Context):
        super().__init__(config, ctx)
        size = config.image_size
        self.operator = config.task.operator(size, size).to(ctx.device)
        self.model = build_solver(config).to(ctx.device)
        check_image_size(size, self.model.size_multiple)
        self.net = self.model
        scalars = [self.model.step_size_raw, self.model.shrinkage_raw]
        network = [p for p in self.model.proxes.parameters() if p.requires_grad]
        groups = [{"params": [p for p in scalars if p.requires_grad], "lr": config.lr_scalars}]
        if network:
            groups.append({"params": network, "lr": config.lr})
        self.optimizer = torch.optim.Adam(groups)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: 1.0)
        # Fixed validation pairs: the same noise every evaluation.
        x_val = data.to_unit(self.val)
        seeds = list(range(10_000, 10_000 + x_val.shape[0]))
        self.val_pairs = (x_val, measure_each(x_val, self.operator, config.task.noise_sigma, seeds))

    def _pair(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.generator(step)
        x = data.to_unit(self.batch(step, g))
        y = self.operator.A(x)
        sigma = self.config.task.noise_sigma
        if sigma > 0:
            y = y + sigma * torch.randn(y.shape, generator=g, device=g.device)
        return x, y

    def train_step(self, step: int) -> float:
        x, y = self._pair(step)
        self.model.train()
        with autocast(self.ctx.device, self.config.bf16):
            x_hat = self.net(y, self.operator)
        loss = torch.mean((x_hat.float() - x) ** 2)
        self.optimize(loss, self.config.max_grad_norm)
        return float(loss.detach())

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        x_val, y_val = self.val_pairs
        psnr, mse = [], []
        for start in range(0, x_val.shape[0], 128):
            x, y = x_val[start : start + 128], y_val[start : start + 128]
            err = ((self.model(y, self.operator).clamp(0, 1) - x) ** 2).flatten(1).mean(1)
            mse.append(err)
            psnr.append(-10 * torch.log10(err.clamp_min(1e-12)))
        return {
            "val_psnr": float(torch.cat(psnr).mean()),
            "val_mse": float(torch.cat(mse).mean()),
            "step_size": [round(float(v), 5) for v in self.model.step_size],
            "shrinkage": [round(float(v), 5) for v in self.model.shrinkage],
        }

    def extra_metadata(self) -> dict:
        return {"task": self.config.task.to_dict()}


def finetune(
    config: FinetuneConfig, resume: bool = False, callback: Callback | None = None, force: bool = False
) -> LoopResult:
    """Fine-tune an unrolled solver for one task; the best checkpoint ends up at result.best_path.

    A run folder that already holds a run needs `resume` or `force` (flowrestore.training.rundir).
    """
    return train(FinetuneObjective, config, resume=resume, callback=callback, force=force)
