"""Stage 2: the whole unrolled network trained end to end with MSE on corrupted-clean pairs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from flowrestore.errors import UsageError
from flowrestore.flow.glow import Glow
from flowrestore.metrics import psnr_each
from flowrestore.operators.blur import Blur
from flowrestore.operators.inpaint import Inpaint
from flowrestore.operators.measurement import STORAGE_SIGMA, measure_each, quantize_8bit, with_storage
from flowrestore.serialization import CheckpointError, load_model
from flowrestore.solver.prox import ResNetConfig, UNetConfig
from flowrestore.solver.unrolled import SolverConfig, UnrolledSolver
from flowrestore.solver.wiener import fit_spectrum
from flowrestore.tasks import TaskSpec
from flowrestore.training import data
from flowrestore.training.distributed import Context
from flowrestore.training.loop import Callback, LoopResult
from flowrestore.training.objective import ImageObjective, StageConfig, check_image_size, train

# Where the data step starts: mu = 1 makes x_tilde = y for denoising, which would cut
# every fold but the last off from the output; 0.5 averages estimate and measurement.
INITIAL_STEP_SIZE = {"denoise": 0.5, "inpaint": 1.0, "deblur": 1.0}
TRAINABLE = ("all", "fold-parameters", "slopes")
SPECTRUM_IMAGES = 4096  # training images the Wiener initial guess's spectrum is fitted on (the first, in file order)


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig(StageConfig):
    task: TaskSpec
    out_dir: Path = Path("runs/finetune")
    prox: str = "glow"
    prior: Path | None = None  # GLOW prior checkpoint (required for prox="glow")
    init_from: Path | None = None  # a solver checkpoint whose prox weights start this run
    folds: int = 4
    plug_and_play: bool = False
    shared_prox: bool = False  # one flow for every fold, trained (an ablation of the paper's untied folds)
    shrink_last: bool = True
    init_shrinkage: float = 0.05
    lr: float = 1e-5  # network weights (paper)
    lr_scalars: float = 1e-2  # step sizes mu and shrinkages lambda (paper)
    # Linear warm-up of both learning rates. Continuing a trained model needs it: Adam's first step
    # moves every weight by the full learning rate (m/sqrt(v) = +-1), and one such step at 1e-4 takes the
    # shipped denoiser from 25.2 to 14.3 dB (docs/training.md, "Warm-up when continuing").
    warmup_steps: int = 0
    max_grad_norm: float | None = 10.0
    eight_bit_fraction: float = 0.0  # share of training measurements clipped and rounded to 8 bits, as files hold them
    sigma_range: tuple[float, float] | None = None  # train one noise-conditioned model on sigma ~ U(range); for
    # deblurring, half the images noise-free and half at log-uniform sigma, the model told the storage's rounding too
    blur_range: tuple[float, float] | None = None  # train one blur-conditioned deblurrer on log sigma_b ~ U(log range)
    blur_noise: float = 0.0  # deblurring: noise sigma ~ U(0, blur_noise) per training image, not told to the model
    initial_guess: str = "prior"  # "prior" (the paper's g_1(0)), "ridge" (deblurring: a ridge inverse of y) or
    # "wiener" (denoising: a stationary Gaussian prior's estimate, its spectrum fitted on the training images)
    ridge_balance: float = 1e-3
    trainable: str = "all"  # "all", "fold-parameters" (mu, lambda and slopes), "slopes" (only the sigma slopes)
    box_jitter: int = 0  # inpainting: half the training boxes shifted by up to this many pixels each way
    level_shrinkage: bool = False  # one lambda per fold and latent level (an extension; docs/method.md)
    memory_saving: bool = True
    resnet: ResNetConfig = field(default_factory=ResNetConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.eight_bit_fraction <= 1:
            raise UsageError(f"eight_bit_fraction must lie in [0, 1], got {self.eight_bit_fraction}")
        if self.trainable not in TRAINABLE:
            raise UsageError(f"trainable must be one of {', '.join(TRAINABLE)}, got {self.trainable!r}")
        if self.trainable == "slopes" and self.sigma_range is None and self.blur_range is None:
            raise UsageError("trainable='slopes' needs sigma_range or blur_range (only conditioned models have slopes)")
        if self.blur_range is not None:
            low, high = self.blur_range
            if self.task.task != "deblur" or not 0 < low < high <= 20:
                raise UsageError(f"blur_range is for deblurring, with 0 < low < high <= 20; got {self.blur_range} "
                                 f"for {self.task.task}")
            if self.sigma_range is not None or self.prox != "glow":
                raise UsageError("blur conditioning is built for the GLOW prox, without sigma_range")
        if self.initial_guess == "ridge" and self.task.task != "deblur":
            raise UsageError(f"the ridge initial guess is for deblurring, not {self.task.task}")
        if self.initial_guess == "wiener" and self.task.task != "denoise":
            raise UsageError(f"the Wiener initial guess is for denoising, not {self.task.task}")
        if not 0 <= self.blur_noise <= 0.1 or (self.blur_noise and self.task.task != "deblur"):
            raise UsageError(f"blur_noise is a noise level in [0, 0.1] for deblurring, got {self.blur_noise}")
        if self.shared_prox and (self.plug_and_play or self.prox != "glow"):
            raise UsageError("a shared prox is one trained GLOW flow for every fold: not with plug-and-play or "
                             f"the {self.prox} prox")
        if self.box_jitter < 0 or (self.box_jitter and self.task.task != "inpaint"):
            raise UsageError(f"box_jitter is a number of pixels >= 0 for inpainting, got {self.box_jitter} "
                             f"for {self.task.task}")
        if self.sigma_range is not None:
            low, high = self.sigma_range
            if not 0 < low < high < 1:
                raise UsageError(f"sigma_range must satisfy 0 < low < high < 1, got {self.sigma_range}")
            if self.prox != "glow":
                raise UsageError("noise conditioning is built for the GLOW prox")
            if self.blur_noise:
                raise UsageError("sigma_range tells a deblurrer its noise; blur_noise adds noise it is not told")
        if self.cuda_graph and self.blur_range is not None:
            raise UsageError("--cuda-graph replays one operator; blur_range draws a new blur for every batch")

    @property
    def storage_noise(self) -> bool:
        """A noise-aware deblurrer: told sigma with the measurement's rounding (float32 or 8-bit) counted."""
        return self.task.task == "deblur" and self.sigma_range is not None

    def validation_storage(self, n: int) -> list[bool]:
        """Whether each of a noise-aware deblurrer's n validation measurements is an 8-bit file (else
        float32): the first of every 4 is float, the others 8-bit. Other runs validate on float."""
        return [i % 4 != 0 for i in range(n)]

    def validation_blurs(self, n: int) -> list[float]:
        """The sigma_b of each of n validation images: the task's, or 4 log-spaced levels across blur_range."""
        if self.blur_range is None:
            return [self.task.blur_sigma] * n
        low, high = self.blur_range
        levels = [low * (high / low) ** (i / 3) for i in range(4)]
        return [levels[i % 4] for i in range(n)]

    def validation_levels(self, n: int) -> list[float]:
        """The noise level of each of n validation images: the task's, or 4 levels across sigma_range."""
        if self.sigma_range is None:
            return [self.task.noise_sigma] * n
        low, high = self.sigma_range
        levels = [0.0, 0.0, low, high] if self.storage_noise else [low + (high - low) * i / 3 for i in range(4)]
        return [levels[i % 4] for i in range(n)]


def build_solver(config: FinetuneConfig) -> UnrolledSolver:
    base = SolverConfig(
        folds=config.folds,
        prox=config.prox,
        tied=config.plug_and_play or config.shared_prox,
        shrink_last=config.shrink_last,
        init_step_size=INITIAL_STEP_SIZE[config.task.task],
        init_shrinkage=config.init_shrinkage,
        noise_conditioned=config.sigma_range is not None,
        storage_noise=config.storage_noise,
        blur_conditioned=config.blur_range is not None,
        reference_blur=config.task.blur_sigma,
        initial_guess=config.initial_guess,
        ridge_balance=config.ridge_balance,
        level_shrinkage=config.level_shrinkage,
        reference_sigma=STORAGE_SIGMA["8bit"] if config.storage_noise else config.task.noise_sigma or 0.2,
        # noise-free files are part of a storage-counting model's training: no floor for it
        sigma_floor=config.sigma_range[0] if config.sigma_range and not config.storage_noise else 0.0,
    )
    if config.prox == "glow":
        if config.prior is None:
            raise UsageError("the GLOW prox starts from a pre-trained prior: pass --prior PATH|NAME")
        prior = load_model(config.prior)
        if prior.kind != "glow":
            raise CheckpointError(f"{config.prior} is a {prior.kind} checkpoint, not a GLOW prior")
        assert isinstance(prior.model, Glow)
        solver = UnrolledSolver.from_prior(prior.model, base, memory_saving=config.memory_saving)
        if config.shared_prox:
            solver.proxes.requires_grad_(True)  # tied like plug-and-play, but trained
    else:
        if config.plug_and_play:
            raise UsageError("plug-and-play needs the GLOW prox (it shares one frozen prior)")
        prox_config = replace(config.resnet if config.prox == "resnet" else config.unet, channels=config.channels)
        solver = UnrolledSolver(replace(base, prox_config=prox_config), memory_saving=config.memory_saving)
    if config.init_from is not None:
        start = load_model(config.init_from).model
        if not isinstance(start, UnrolledSolver) or start.config.prox != config.prox:
            raise CheckpointError(f"{config.init_from} is not a {config.prox}-prox solver checkpoint")
        initial = dict(init_step_size=solver.config.init_step_size, init_shrinkage=solver.config.init_shrinkage,
                       noise_conditioned=solver.config.noise_conditioned,
                       reference_sigma=solver.config.reference_sigma, level_shrinkage=solver.config.level_shrinkage,
                       blur_conditioned=solver.config.blur_conditioned, reference_blur=solver.config.reference_blur,
                       initial_guess=solver.config.initial_guess, ridge_balance=solver.config.ridge_balance,
                       wiener_mean=solver.config.wiener_mean, wiener_spectrum=solver.config.wiener_spectrum,
                       storage_noise=solver.config.storage_noise, sigma_floor=solver.config.sigma_floor,
                       blend_error=solver.config.blend_error, blend_power=solver.config.blend_power,
                       blend_towards=solver.config.blend_towards, flip_ensemble=solver.config.flip_ensemble)
        if replace(start.config, **initial) == solver.config:
            # continue a run: flows, mu and lambda (a plain start leaves a conditioned model's slopes at 0;
            # a fold's one lambda becomes the start of each of its levels' lambdas)
            state = start.state_dict()
            if state["shrinkage_raw"].dim() == 1 and solver.config.level_shrinkage:
                state["shrinkage_raw"] = state["shrinkage_raw"][:, None].expand_as(solver.shrinkage_raw).clone()
            if state["shrinkage_raw"].shape != solver.shrinkage_raw.shape:
                raise CheckpointError(f"{config.init_from} has a shrinkage per latent level; continue it with "
                                      "--level-shrinkage")
            missing, unexpected = solver.load_state_dict(state, strict=False)
            if unexpected or set(missing) - {"step_size_slope", "shrinkage_slope"}:
                raise CheckpointError(f"{config.init_from} does not fit this solver ({unexpected or missing})")
            if solver.config.noise_conditioned:  # the measurement blend's fitted error goes on with the model
                solver.config = replace(solver.config, blend_error=start.config.blend_error,
                                        blend_power=start.config.blend_power, blend_towards=start.config.blend_towards)
            solver.config = replace(solver.config, flip_ensemble=start.config.flip_ensemble)  # an inference setting
            if solver.config.initial_guess == "wiener" and start.config.wiener_spectrum:  # the prior it trained with
                solver.config = replace(solver.config, wiener_mean=start.config.wiener_mean,
                                        wiener_spectrum=start.config.wiener_spectrum)
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
        if self.model.config.initial_guess == "wiener" and not self.model.config.wiener_spectrum:
            mean, table = fit_spectrum(data.to_unit(self.train[:SPECTRUM_IMAGES]))
            self.model.config = replace(self.model.config, wiener_mean=mean, wiener_spectrum=table)
        check_image_size(size, self.model.size_multiple)
        self.net = self.model
        scalars = [self.model.step_size_raw, self.model.shrinkage_raw]
        slopes = [self.model.step_size_slope, self.model.shrinkage_slope] if self.model.config.conditioned else []
        if config.trainable != "all":
            self.model.proxes.requires_grad_(False)
        if config.trainable == "slopes":
            # mu and lambda at the reference level stay as they are: there the model is unchanged
            for p in scalars:
                p.requires_grad_(False)
        scalars += slopes
        network = [p for p in self.model.proxes.parameters() if p.requires_grad]
        groups = [{"params": [p for p in scalars if p.requires_grad], "lr": config.lr_scalars}]
        if network:
            groups.append({"params": network, "lr": config.lr})
        self.optimizer = torch.optim.Adam(groups)
        self.scheduler = self.make_scheduler()
        # Fixed validation pairs: the same noise every evaluation; a blur-conditioned model's in groups
        # of one sigma_b each (one operator per group).
        x_val = data.to_unit(self.val)
        levels = config.validation_levels(x_val.shape[0])
        blurs = config.validation_blurs(x_val.shape[0])
        self.val_operators = {b: self._blur(b) for b in sorted(set(blurs))} if config.blur_range else {}
        y_val = torch.cat([
            measure_each(x_val[i : i + 1], self.val_operators.get(blur, self.operator), level, [10_000 + i])
            for i, (level, blur) in enumerate(zip(levels, blurs))
        ]) if x_val.shape[0] else x_val
        self.val_sigma = torch.tensor(levels, device=ctx.device)
        if config.storage_noise:
            stored = torch.tensor(config.validation_storage(x_val.shape[0]), device=ctx.device)
            y_val = torch.where(stored[:, None, None, None], quantize_8bit(y_val), y_val)
            self.val_sigma = with_storage(self.val_sigma, stored)
        self.val_blur = blurs
        self.val_pairs = (x_val, y_val)
        self.record_steps()

    def _blur(self, blur_sigma: float):
        task = self.config.task
        return Blur(blur_sigma, task.kernel_size, task.blur_boundary).to(self.ctx.device)

    def _sigma(self, n: int, g: torch.Generator) -> torch.Tensor:
        """The noise level of each training image, shape (n, 1, 1, 1)."""
        if self.config.storage_noise:  # half noise-free, half log-uniform across the range
            low, high = self.config.sigma_range
            sigma = low * (high / low) ** torch.rand(n, 1, 1, 1, generator=g, device=g.device)
            return torch.where(torch.rand(n, 1, 1, 1, generator=g, device=g.device) < 0.5, 0.0, sigma)
        if self.config.blur_noise:
            return self.config.blur_noise * torch.rand(n, 1, 1, 1, generator=g, device=g.device)
        if self.config.sigma_range is None:
            return torch.full((n, 1, 1, 1), self.config.task.noise_sigma, device=g.device)
        low, high = self.config.sigma_range
        return low + (high - low) * torch.rand(n, 1, 1, 1, generator=g, device=g.device)

    def _pair(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, _, _ = self._triple(step)
        return x, y

    def _operator(self, n: int, g: torch.Generator):
        """The training operator of a batch of n: the task's, or with box_jitter, one inpainting
        box per image, half of them at the centre (the protocol's) and half shifted uniformly by up
        to box_jitter pixels each way (docs/results/inpaint-position.md)."""
        if self.config.blur_range is not None:  # one sigma_b per batch, log-uniform across the range
            low, high = self.config.blur_range
            u = float(torch.rand((), generator=g, device=g.device))
            return self._blur(low * (high / low) ** u)
        jitter = self.config.box_jitter
        if not jitter:
            return self.operator
        size, box = self.config.image_size, self.config.task.box
        top = (size - box) // 2
        shifts = torch.randint(-jitter, jitter + 1, (n, 2), generator=g, device=g.device)
        shifts[torch.rand(n, generator=g, device=g.device) < 0.5] = 0
        corner = top + shifts.clamp(-top, size - box - top)  # (n, 2): each box's top row and left column
        pixels = torch.arange(size, device=g.device)
        inside = (pixels >= corner[..., None]) & (pixels < corner[..., None] + box)  # (n, 2, size)
        hole = inside[:, 0, :, None] & inside[:, 1, None, :]  # (n, size, size), without a host sync
        return Inpaint((~hole)[:, None].float()).to(g.device)

    def _triple(self, step: int):
        """(clean x, measurement y, noise level per image (B,), operator) for a training step."""
        g = self.generator(step)
        x = data.to_unit(self.batch(step, g))
        operator = self._operator(x.shape[0], g)
        y = operator.measure_clean(x)
        sigma = self._sigma(x.shape[0], g)
        if self.config.sigma_range is not None or self.config.task.noise_sigma > 0 or self.config.blur_noise:
            y = y + sigma * torch.randn(y.shape, generator=g, device=g.device)
        chosen = torch.zeros(y.shape[0], 1, 1, 1, dtype=torch.bool, device=g.device)  # stored as 8-bit files
        if self.config.eight_bit_fraction > 0:
            chosen = torch.rand(y.shape[0], 1, 1, 1, generator=g, device=g.device) < self.config.eight_bit_fraction
            y = torch.where(chosen, quantize_8bit(y), y)
        if self.config.storage_noise:
            sigma = with_storage(sigma, chosen)
        return x, y, sigma.flatten(), operator

    def loss(self, x: torch.Tensor, y: torch.Tensor, sigma: torch.Tensor, mask: torch.Tensor | None = None,
             operator=None) -> torch.Tensor:
        """The training loss of one batch; a box-jittered inpainting batch comes as its masks."""
        if operator is None:
            operator = self.operator if mask is None else Inpaint(mask)
        with self.autocast():
            x_hat = self.net(y, operator, sigma=sigma)
        return torch.mean((x_hat.float() - x) ** 2)

    def train_step(self, step: int) -> float:
        x, y, sigma, operator = self._triple(step)
        self.model.train()
        inputs = {"x": x, "y": y, "sigma": sigma}
        if isinstance(operator, Inpaint) and operator is not self.operator:
            inputs["mask"] = operator.mask  # a jittered inpainting batch comes as its masks, which a recording takes
        elif operator is not self.operator:
            inputs["operator"] = operator  # a blur-aware batch's own blur (never recorded: refused in the config)
        return self.step(**inputs)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        x_val, y_val = self.val_pairs
        psnr, mse = [], []
        groups = [[i for i, b in enumerate(self.val_blur) if b == blur] for blur in self.val_operators] \
            or [list(range(x_val.shape[0]))]
        for group in groups:
            operator = self.val_operators.get(self.val_blur[group[0]], self.operator) if group else self.operator
            for start in range(0, len(group), 128):
                rows = torch.tensor(group[start : start + 128], device=x_val.device)
                x, y = x_val[rows], y_val[rows]
                x_hat = self.model(y, operator, sigma=self.val_sigma[rows]).clamp(0, 1)
                mse.append(((x_hat - x) ** 2).flatten(1).mean(1))
                psnr.append(psnr_each(x_hat, x))
        return {
            "val_psnr": float(torch.cat(psnr).mean()),
            "val_mse": float(torch.cat(mse).mean()),
            "step_size": [round(float(v), 5) for v in self.model.step_size],
            "shrinkage": [round(float(v), 5) for v in self.model.shrinkage.flatten()],
        }

    def extra_metadata(self) -> dict:
        extra = {"task": self.config.task.to_dict()}
        if self.config.sigma_range is not None:
            extra["sigma_range"] = list(self.config.sigma_range)
        if self.config.blur_range is not None:
            extra["blur_range"] = list(self.config.blur_range)
        return extra


def finetune(
    config: FinetuneConfig, resume: bool = False, callback: Callback | None = None, force: bool = False
) -> LoopResult:
    """Fine-tune an unrolled solver for one task; the best checkpoint ends up at result.best_path.

    A run folder that already holds a run needs `resume` or `force` (flowrestore.training.rundir).
    """
    return train(FinetuneObjective, config, resume=resume, callback=callback, force=force)
