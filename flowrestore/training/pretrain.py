"""Stage 1: the GLOW prior by maximum likelihood on clean images (eq. 14)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from flowrestore.flow.glow import Glow, GlowConfig, bits_per_dim, preset
from flowrestore.flow.layers import standard_normal_log_prob
from flowrestore.training.distributed import Context
from flowrestore.training.loop import Callback, LoopResult
from flowrestore.training.objective import ImageObjective, StageConfig, check_image_size, train


@dataclass(frozen=True, kw_only=True)
class PretrainConfig(StageConfig):
    out_dir: Path = Path("runs/prior")
    preset: str = "compact"
    glow: GlowConfig | None = None  # overrides `preset` when given
    n_bits: int = 8
    lr: float = 1e-3
    warmup_steps: int = 500
    max_grad_norm: float = 50.0
    init_from: Path | None = None  # a GLOW checkpoint to continue from (its configuration wins)

    def glow_config(self) -> GlowConfig:
        if self.init_from is not None:
            from flowrestore.serialization import read_metadata

            return GlowConfig(**read_metadata(self.init_from)["config"])
        return self.glow or preset(self.preset, channels=self.channels)

    def to_dict(self) -> dict:
        return super().to_dict() | {"glow": self.glow_config().to_dict()}


def dequantize(images: torch.Tensor, n_bits: int, generator: torch.Generator) -> torch.Tensor:
    """uint8 images -> continuous values in [0, 1], uniform noise within each of 2**n_bits bins."""
    x = torch.div(images, 2 ** (8 - n_bits), rounding_mode="floor").float()
    u = torch.rand(x.shape, generator=generator, device=generator.device)
    return (x + u) / 2**n_bits


class PretrainObjective(ImageObjective):
    monitor = "val_bpd"
    higher_is_better = False
    stage = "pretrain"

    def __init__(self, config: PretrainConfig, ctx: Context):
        check_image_size(config.image_size, config.glow_config().size_multiple)  # before any image is read
        super().__init__(config, ctx)
        self.dims = config.channels * config.image_size**2
        self.model = Glow(config.glow_config()).to(ctx.device)
        self.net = self.model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.scheduler = self.make_scheduler()
        self.record_steps()

    def _images(self, step: int) -> torch.Tensor:
        g = self.generator(step)
        return dequantize(self.batch(step, g), self.config.n_bits, g)

    def initialize(self) -> None:
        """Data-dependent actnorm initialisation on the first batch (before any DDP wrapping),
        or the weights of `init_from` (whose actnorms are initialised already)."""
        if self.config.init_from is not None:
            from flowrestore.serialization import load_model

            self.model.load_state_dict(load_model(self.config.init_from).model.state_dict())
            return
        with torch.no_grad():
            self.model(self._images(0))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            z, ladj = self.net(x)
        log_p = sum(standard_normal_log_prob(zi.float()) for zi in z) + ladj.float()
        return bits_per_dim(log_p, self.dims, self.config.n_bits).mean()

    def train_step(self, step: int) -> float:
        x = self._images(step)
        self.model.train()
        return self.step(x=x)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        g = self.generator(-1)
        total = 0.0
        for start in range(0, self.val.shape[0], 256):
            x = dequantize(self.val[start : start + 256], self.config.n_bits, g)
            total += float(bits_per_dim(self.model.log_prob(x), self.dims, self.config.n_bits).sum())
        return {"val_bpd": total / self.val.shape[0]}


def pretrain(
    config: PretrainConfig, resume: bool = False, callback: Callback | None = None, force: bool = False
) -> LoopResult:
    """Train a GLOW prior; the best checkpoint ends up at result.best_path.

    A run folder that already holds a run needs `resume` or `force` (flowrestore.training.rundir).
    """
    return train(PretrainObjective, config, resume=resume, callback=callback, force=force)
