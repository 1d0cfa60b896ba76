"""The unrolled proximal-gradient network: K folds of data step then prox step (section III).

Fold k:  x_tilde = x - mu_k A^T(A x - y)          (eq. 8, data step; A acts on centred images)
         x       = g_k(f_k(x_tilde) / (1 + lambda_k))   (eqs. 9-11, prox step)

Reading of eq. (12): read literally, the last fold decodes its latent right after the
data step without shrinkage, x_hat = g_K(f_K(x_tilde_K)) = x_tilde_K, so the K-th flow
is an identity that no gradient reaches. We default to `shrink_last=True` (every fold,
the last included, shrinks its latent) so that all K flows act; `shrink_last=False`
gives the literal reading, where the network ends on the K-th data step.
Initial guess: x0 = g_1(0), the first fold's flow at the latent origin (the pre-trained
prior's most likely image before fine-tuning), held constant (no gradient flows into
it); the baselines start from A^T y (`operator.back_project`). A deblurrer may start from
a ridge inverse of y instead (`initial_guess="ridge"`, flowrestore.solver.initial; an extension),
and a denoiser from a stationary Gaussian prior's Wiener estimate (`initial_guess="wiener"`,
flowrestore.solver.wiener; an extension).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from flowrestore import devices
from flowrestore.errors import UsageError
from flowrestore.flow.glow import Glow, GlowConfig
from flowrestore.operators.base import LinearOperator
from flowrestore.solver.initial import INITIAL_GUESSES, NotSeparable, ridge
from flowrestore.solver.wiener import wiener
from flowrestore.solver.prox import FlowProx, Shrink, build_prox, prox_config_from_dict


BLEND_TARGETS = ("measurement", "wiener")  # what a noise-aware denoiser's output is blended with at low noise


def _inverse_softplus(v: float) -> float:
    return v + math.log(-math.expm1(-v))


@dataclass(frozen=True)
class SolverConfig:
    """Architecture of an unrolled solver; stored inside every task checkpoint."""

    folds: int = 4
    prox: str = "glow"
    prox_config: object = field(default_factory=GlowConfig)
    tied: bool = False  # one prox shared by all folds (plug-and-play)
    shrink_last: bool = True
    init_step_size: float = 1.0
    init_shrinkage: float = 0.05
    noise_conditioned: bool = False  # mu_k and lambda_k depend on the noise level (docs/method.md, extension)
    reference_sigma: float = 0.2  # the noise level at which the conditioned parameters equal the plain ones
    blur_conditioned: bool = False  # ... on the blur operator's sigma_b instead (docs/method.md, extension)
    reference_blur: float = 5.0  # the sigma_b at which the conditioned parameters equal the plain ones
    level_shrinkage: bool = False  # one lambda per fold and latent level instead of per fold (docs/method.md, extension)
    # x^(0): "prior" g_1(0) (the paper's), "ridge", a ridge inverse of y (deblurring), or "wiener", a stationary
    # Gaussian prior's MMSE estimate (denoising; flowrestore.solver.wiener)
    initial_guess: str = "prior"
    ridge_balance: float = 1e-3  # beta of the ridge initial guess (flowrestore.solver.initial); a noise-conditioned
    # solver's beta follows sigma: ridge_balance * (sigma / reference_sigma)^2 (docs/method.md)
    wiener_mean: tuple = ()  # the Wiener guess's prior (flowrestore.solver.wiener.fit_spectrum): its mean colour
    wiener_spectrum: tuple = ()  # ... and its radial cross-spectrum table, fitted on the training faces
    storage_noise: bool = False  # the sigma it is told counts the measurement's rounding (float32 or an 8-bit file)
    # A noise-conditioned solver's mu_k and lambda_k follow max(sigma, sigma_floor): the bottom of the range it was
    # trained on, below which they extrapolate and the output breaks down (docs/method.md, extension).
    sigma_floor: float = 0.0
    # Denoising: the output blended with the measurement, x_hat + w (y - x_hat), w = 1 / (1 + (sigma / eps)^p), eps
    # the model's own error floor and p fitted on validation (docs/method.md, measurement blend; eps = 0: off). p = 2
    # is the linear MMSE combination of two estimates with independent errors.
    blend_error: float = 0.0
    blend_power: float = 2.0
    # ... or blended with the Wiener initial guess instead of y ("wiener", a solver with that start): the same
    # weight, and nearly y itself at low noise, where the Wiener estimate is the better of the two (docs/method.md)
    blend_towards: str = "measurement"
    # At inference, for an operator that commutes with mirroring (denoising, Gaussian deblurring): the mean of the
    # restorations of y and of y mirrored left to right (mirrored back), a self-ensemble over the flip the training
    # faces were augmented with (docs/method.md, extension; twice the time).
    flip_ensemble: bool = False

    def __post_init__(self) -> None:
        if self.folds < 1:
            raise UsageError(f"the solver needs at least one fold, got {self.folds}")
        if isinstance(self.prox_config, dict):
            object.__setattr__(self, "prox_config", prox_config_from_dict(self.prox, self.prox_config))
        if self.level_shrinkage and self.prox != "glow":
            raise UsageError("a shrinkage per latent level needs the GLOW prox")
        if self.initial_guess not in INITIAL_GUESSES:
            raise UsageError(f"unknown initial guess {self.initial_guess!r}; choose one of {', '.join(INITIAL_GUESSES)}")
        if self.ridge_balance <= 0:
            raise UsageError(f"the ridge balance must be positive, got {self.ridge_balance}")
        # read back from a checkpoint's JSON as lists: tuples, so that configs compare equal
        object.__setattr__(self, "wiener_mean", tuple(float(v) for v in self.wiener_mean))
        table = tuple(tuple(float(v) for v in row) for row in self.wiener_spectrum)
        object.__setattr__(self, "wiener_spectrum", table)
        if self.noise_conditioned and self.blur_conditioned:
            raise UsageError("a solver is conditioned on the noise level or on the blur, not both")
        if self.storage_noise and not self.noise_conditioned:
            raise UsageError("counting the storage's rounding as noise needs a noise-conditioned solver")
        if (self.sigma_floor or self.blend_error) and not self.noise_conditioned:
            raise UsageError("a sigma floor and the measurement blend need a noise-conditioned solver")
        if not (0 <= self.sigma_floor < 1 and 0 <= self.blend_error < 1):
            raise UsageError(f"sigma_floor and blend_error lie in [0, 1), got {self.sigma_floor}, {self.blend_error}")
        if not 0 < self.blend_power <= 16:
            raise UsageError(f"blend_power lies in (0, 16], got {self.blend_power}")
        if self.blend_towards not in BLEND_TARGETS:
            raise UsageError(f"unknown blend target {self.blend_towards!r}; choose one of {', '.join(BLEND_TARGETS)}")
        if self.blend_towards == "wiener" and self.initial_guess != "wiener":
            raise UsageError("blending towards the Wiener estimate needs a solver that starts from it")

    @property
    def conditioned(self) -> bool:
        """Whether mu_k and lambda_k are functions of a measurement parameter (sigma or sigma_b)."""
        return self.noise_conditioned or self.blur_conditioned

    def to_dict(self) -> dict:
        d = asdict(self)
        d["prox_config"] = asdict(self.prox_config)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SolverConfig":
        return cls(**d)


class UnrolledSolver(nn.Module):
    """x_hat = model(y, operator): the same call for every prox."""

    def __init__(self, config: SolverConfig, memory_saving: bool = True):
        super().__init__()
        self.config = config
        self.memory_saving = memory_saving
        n = 1 if config.tied else config.folds
        self.proxes = nn.ModuleList(build_prox(config.prox, config.prox_config) for _ in range(n))
        self.step_size_raw = nn.Parameter(torch.full((config.folds,), _inverse_softplus(config.init_step_size)))
        shape = (config.folds, config.prox_config.levels) if config.level_shrinkage else (config.folds,)
        self.shrinkage_raw = nn.Parameter(torch.full(shape, _inverse_softplus(config.init_shrinkage)))
        if config.prox != "glow":
            self.shrinkage_raw.requires_grad_(False)
        if config.conditioned:
            # mu_k(t) = softplus(a_k + b_k t), likewise lambda_k, with t = log(sigma / sigma_ref) or
            # log(sigma_b / sigma_b_ref); b = 0 at start
            self.step_size_slope = nn.Parameter(torch.zeros(config.folds))
            self.shrinkage_slope = nn.Parameter(torch.zeros(config.folds))

    @classmethod
    def from_prior(cls, prior: Glow, config: SolverConfig, memory_saving: bool = True) -> "UnrolledSolver":
        """Every fold's flow starts as a copy of the pre-trained prior (one shared copy when tied)."""
        if config.prox != "glow":
            raise ValueError("only the GLOW prox starts from a pre-trained prior")
        config = replace(config, prox_config=prior.config)
        solver = cls(config, memory_saving=memory_saving)
        for prox in solver.proxes:
            prox.flow.load_state_dict(prior.state_dict())
        if config.tied:
            solver.proxes.requires_grad_(False)  # plug-and-play: the prior stays frozen
        return solver

    @property
    def step_size(self) -> Tensor:
        """mu_k > 0, shape (K,)."""
        return nn.functional.softplus(self.step_size_raw)

    @property
    def shrinkage(self) -> Tensor:
        """lambda_k > 0, shape (K,); with level_shrinkage lambda_{k,l}, shape (K, L)."""
        return nn.functional.softplus(self.shrinkage_raw)

    def log_ratio(self, sigma, batch: int, like: Tensor, operator: LinearOperator | None = None) -> Tensor | None:
        """The conditioning variable per image, shape (B,): log(sigma / sigma_ref) for a noise-conditioned
        solver, log(sigma_b / sigma_b_ref) of the operator's blur for a blur-conditioned one; else None."""
        if self.config.blur_conditioned:
            blur = None if operator is None else operator.blur_sigma
            if blur is None:
                raise UsageError("this model deblurs at the blur it is given: it needs a blur operator")
            return torch.full((batch,), math.log(blur / self.config.reference_blur), dtype=like.dtype,
                              device=like.device)
        if not self.config.noise_conditioned:
            return None
        if sigma is None:
            raise UsageError("this model restores at a given noise level: pass sigma (restore --sigma, or estimate it)")
        sigma = self.noise_levels(sigma, batch, like)
        folds_at = sigma.clamp_min(self.config.sigma_floor)
        # the check reads the values on the host, which a CUDA graph's recording cannot (training's levels are drawn)
        if not devices.recording_graph(sigma) and ((sigma < 0).any() or (folds_at <= 0).any()):
            raise UsageError(f"the noise level must be positive, got {sigma.min().item():g}")
        return torch.log(folds_at / self.config.reference_sigma)

    @staticmethod
    def noise_levels(sigma, batch: int, like: Tensor) -> Tensor:
        """sigma (a number or one per image) as a tensor of shape (B,)."""
        return torch.as_tensor(sigma, dtype=like.dtype, device=like.device).reshape(-1).expand(batch)

    def blend(self, x_hat: Tensor, y: Tensor, sigma) -> Tensor:
        """x_hat + w (y - x_hat) with w = 1 / (1 + (sigma / eps)^p) per image. For p = 2 it is the linear
        MMSE combination of two estimates of x whose errors have variances eps^2 (the model's) and
        sigma^2 (the noise's), taken as independent; a larger p lets w fall faster where the two errors
        are not. It keeps a nearly clean image nearly as it is. `y` is the measurement or, with
        blend_towards="wiener", the Wiener estimate of x from it."""
        ratio = self.noise_levels(sigma, y.shape[0], y) / self.config.blend_error
        w = 1 / (1 + ratio**self.config.blend_power)
        return x_hat + w[:, None, None, None] * (y - x_hat)

    def fold_parameters(self, log_ratio: Tensor | None) -> tuple[Tensor, Tensor]:
        """(mu, lambda) per image and fold, shape (B, K); (1, K) without conditioning. With
        level_shrinkage, lambda has a last dimension of levels: (B or 1, K, L)."""
        if log_ratio is None:
            return self.step_size[None], self.shrinkage[None]
        t = log_ratio[:, None]
        slope = self.shrinkage_slope * t  # (B, K)
        if self.config.level_shrinkage:
            slope = slope[..., None]  # one slope per fold, shared by its levels
        return (nn.functional.softplus(self.step_size_raw + self.step_size_slope * t),
                nn.functional.softplus(self.shrinkage_raw + slope))

    @property
    def size_multiple(self) -> int:
        return self.proxes[0].size_multiple

    def prox(self, fold: int) -> nn.Module:
        return self.proxes[0 if self.config.tied else fold]

    def initial_guess(self, y: Tensor, operator: LinearOperator, log_ratio: Tensor | None = None,
                      sigma=None) -> Tensor:
        """x^(0) for measurements y; `sigma`, the noise level the Wiener guess filters (None: the reference)."""
        if self.config.initial_guess == "wiener":
            if operator.name != "denoise":
                raise UsageError(f"this model starts from a Wiener estimate of a noisy image; it cannot restore "
                                 f"{operator.name}")
            if not self.config.wiener_spectrum:
                raise UsageError("this model's Wiener initial guess has no fitted spectrum (fit_spectrum)")
            levels = self.noise_levels(self.config.reference_sigma if sigma is None else sigma, y.shape[0], y)
            return wiener(y, self.config.wiener_mean, self.config.wiener_spectrum, levels.detach())
        if self.config.initial_guess == "ridge":
            balance = self.config.ridge_balance
            if self.config.noise_conditioned and log_ratio is not None:  # beta ~ sigma^2, as Tikhonov's rule has it
                balance = balance * torch.exp(2 * log_ratio.detach().to(torch.float64))
            try:
                return ridge(y, operator, balance)
            except NotSeparable:
                raise UsageError(f"this model starts from a ridge inverse of a blur; it cannot restore "
                                 f"{operator.name}") from None
        x_adj = operator.back_project(y)
        first = self.proxes[0]
        if not isinstance(first, FlowProx):
            return x_adj
        b, _, h, w = x_adj.shape
        flow = first.flow
        with torch.no_grad():  # g_1(0) is the same image for every measurement: decode it once
            return flow.decode(flow.zeros_latent(1, h, w, like=x_adj)).expand(b, -1, -1, -1)

    def data_step(self, x: Tensor, y: Tensor, operator: LinearOperator, fold: int,
                  log_ratio: Tensor | None = None) -> Tensor:
        operator = operator.at_fold(fold, self.config.folds)
        mu = self.fold_parameters(log_ratio)[0][:, fold, None, None, None]  # (B or 1, 1, 1, 1)
        return x - mu * operator.A_adjoint(operator.residual(x, y))

    def _data_step_for_training(self, x: Tensor, y: Tensor, operator: LinearOperator, fold: int,
                                log_ratio: Tensor | None) -> Tensor:
        if not (self.memory_saving and torch.is_grad_enabled()):
            return self.data_step(x, y, operator, fold, log_ratio)
        # Autograd would keep each fold's residual A^T(Ax - y), an image, for d/d(mu).
        # Recompute it in the backward pass from x instead: x is the previous fold's output,
        # which that fold's invertible chain keeps anyway, so a fold costs one stored image.
        return checkpoint(
            self.data_step, x, y, operator, fold, log_ratio, use_reentrant=False, preserve_rng_state=False
        )

    def prox_step(self, x_tilde: Tensor, fold: int, log_ratio: Tensor | None = None) -> Tensor:
        if self.config.prox != "glow":
            return self.prox(fold)(x_tilde)
        if fold == self.config.folds - 1 and not self.config.shrink_last:
            return x_tilde  # g_K(f_K(x_tilde)) without shrinkage is the identity
        slope = self.shrinkage_slope if log_ratio is not None else None
        shrink = Shrink(self.shrinkage_raw, fold, slope, log_ratio)
        return self.prox(fold)(x_tilde, shrink, self.memory_saving)

    def forward(self, y: Tensor, operator: LinearOperator, return_all: bool = False, sigma=None):
        """x_hat from y; `sigma` (a number or one per image) is the noise level, used by
        noise-conditioned solvers and ignored by the others (a blur-conditioned one reads sigma_b
        from `operator`). With `flip_ensemble`, out of training and for an operator that commutes with
        mirroring, it returns the mean of its restorations of y and of y mirrored (mirrored back); every
        estimate of `return_all` likewise."""
        out = self._unroll(y, operator, sigma)
        if self.config.flip_ensemble and not self.training and operator.mirror_symmetric:
            mirrored = self._unroll(y.flip(-1), operator, sigma)  # per-image sigma: a mirror keeps the noise
            out = [(a + b.flip(-1)) / 2 for a, b in zip(out, mirrored)]
        return out if return_all else out[-1]

    def _unroll(self, y: Tensor, operator: LinearOperator, sigma) -> list[Tensor]:
        """The initial guess and each fold's estimate."""
        log_ratio = self.log_ratio(sigma, y.shape[0], y, operator)
        x = self.initial_guess(y, operator, log_ratio, sigma)
        estimates = [x]
        for fold in range(self.config.folds):
            x = self.prox_step(self._data_step_for_training(x, y, operator, fold, log_ratio), fold, log_ratio)
            estimates.append(x)
        if self.config.blend_error and operator.name == "denoise":
            estimates[-1] = self.blend(x, estimates[0] if self.config.blend_towards == "wiener" else y, sigma)
        return estimates
