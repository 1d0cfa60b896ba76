"""Proximal steps for the unrolled solver: the GLOW flow prox and the ResNet and U-Net baselines.

Every prox maps the data-step output x_tilde (B, C, H, W) to the next estimate;
the flow prox also takes the fold's shrinkage factor 1 + lambda_k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from flowrestore.errors import UsageError
from flowrestore.flow.glow import Glow, GlowConfig
from flowrestore.flow.inference import inference_flow
from flowrestore.solver.invertible import Decode, Encode, State, invertible_chain, run


class Shrink:
    """z -> z / (1 + lambda) on every latent tensor (eq. 10); invertible for a fixed lambda.

    lambda = softplus(raw[fold]), or softplus(raw[fold] + slope[fold] * log_ratio) per image for a
    noise-conditioned solver (log_ratio = log(sigma / sigma_ref), shape (B,)). With one lambda per
    latent level (raw of shape (K, L), an extension of the paper), level l's tensor z_l is divided
    by its own 1 + lambda_{k,l}.
    """

    def __init__(self, shrinkage_raw: nn.Parameter, fold: int, slope: nn.Parameter | None = None,
                 log_ratio: Tensor | None = None):
        self.raw = shrinkage_raw
        self.fold = fold
        self.slope = slope
        self.log_ratio = log_ratio

    def _factor(self, raw: Tensor) -> Tensor:
        if self.slope is None:
            return 1 + nn.functional.softplus(raw)
        lam = nn.functional.softplus(raw + self.slope[self.fold] * self.log_ratio)
        return (1 + lam)[:, None, None, None]

    def factors(self, levels: int) -> list[Tensor]:
        """1 + lambda for each of the latent's `levels` tensors (one shared value without per-level lambda)."""
        raw = self.raw[self.fold]
        if raw.dim() == 0:
            return [self._factor(raw)] * levels
        if raw.shape[0] != levels:
            raise ValueError(f"{raw.shape[0]} shrinkages for a latent of {levels} levels")
        return [self._factor(r) for r in raw]

    def forward(self, state: State) -> State:
        return tuple(z / f for z, f in zip(state, self.factors(len(state))))

    def inverse(self, state: State) -> State:
        return tuple(z * f for z, f in zip(state, self.factors(len(state))))

    def parameters(self) -> list[nn.Parameter]:
        return [self.raw] if self.slope is None else [self.raw, self.slope]


class FlowProx(nn.Module):
    """x_tilde -> g(P(f(x_tilde))): encode, shrink the latent, decode (eqs. 9-11)."""

    def __init__(self, config: GlowConfig):
        super().__init__()
        self.flow = Glow(config)

    @property
    def size_multiple(self) -> int:
        return self.flow.config.size_multiple

    def ops(self, shrink: Shrink | None) -> list:
        layers = list(self.flow.layers)
        middle = [shrink] if shrink is not None else []
        return [Encode(l) for l in layers] + middle + [Decode(l) for l in reversed(layers)]

    def forward(self, x_tilde: Tensor, shrink: Shrink | None, memory_saving: bool) -> Tensor:
        self.flow.check_size(x_tilde)
        if not (self.training or torch.is_grad_enabled()):
            folded = inference_flow(self.flow)  # None until ActNorm is initialised
            if folded is not None:
                z = folded.encode(x_tilde)
                factors = shrink.factors(len(z)) if shrink is not None else [1] * len(z)
                return folded.decode(tuple(zi.div_(f) for zi, f in zip(z, factors)))
        ops = self.ops(shrink)
        if memory_saving and torch.is_grad_enabled():
            return invertible_chain(ops, x_tilde)
        (x,) = run(ops, (x_tilde,))
        return x


@dataclass(frozen=True)
class ResNetConfig:
    """Mardani et al.'s prox: two residual blocks (3x3, 128 maps, batch norm, ReLU), three 1x1 convs."""

    channels: int = 3
    width: int = 128
    blocks: int = 2


class _ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x + self.body(x))


class ResNetProx(nn.Module):
    size_multiple = 1

    def __init__(self, config: ResNetConfig):
        super().__init__()
        w = config.width
        self.net = nn.Sequential(
            nn.Conv2d(config.channels, w, 3, padding=1),
            nn.ReLU(),
            *[_ResidualBlock(w) for _ in range(config.blocks)],
            nn.Conv2d(w, w, 1),
            nn.ReLU(),
            nn.Conv2d(w, w, 1),
            nn.ReLU(),
            nn.Conv2d(w, config.channels, 1),
        )

    def forward(self, x_tilde: Tensor) -> Tensor:
        return x_tilde + self.net(x_tilde)


@dataclass(frozen=True)
class UNetConfig:
    """A standard U-Net (double 3x3 conv + batch norm + ReLU, max-pool down, transposed-conv up)."""

    channels: int = 3
    width: int = 32
    depth: int = 3


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class UNetProx(nn.Module):
    def __init__(self, config: UNetConfig):
        super().__init__()
        widths = [config.width * 2**i for i in range(config.depth + 1)]
        self.size_multiple = 2**config.depth
        self.inc = _double_conv(config.channels, widths[0])
        self.down = nn.ModuleList(_double_conv(widths[i], widths[i + 1]) for i in range(config.depth))
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(config.depth))
        )
        self.up_conv = nn.ModuleList(
            _double_conv(2 * widths[i], widths[i]) for i in reversed(range(config.depth))
        )
        self.out = nn.Conv2d(widths[0], config.channels, 1)

    def forward(self, x_tilde: Tensor) -> Tensor:
        skips = [self.inc(x_tilde)]
        for down in self.down:
            skips.append(down(nn.functional.max_pool2d(skips[-1], 2)))
        h = skips.pop()
        for up, conv in zip(self.up, self.up_conv):
            h = conv(torch.cat([skips.pop(), up(h)], dim=1))
        return x_tilde + self.out(h)


PROX_KINDS = ("glow", "resnet", "unet")


def prox_config_from_dict(kind: str, d: dict):
    return {"glow": GlowConfig, "resnet": ResNetConfig, "unet": UNetConfig}[kind](**d)


def build_prox(kind: str, config) -> nn.Module:
    if kind == "glow":
        return FlowProx(config)
    if kind == "resnet":
        return ResNetProx(config)
    if kind == "unet":
        return UNetProx(config)
    raise UsageError(f"unknown prox {kind!r}; choose one of {', '.join(PROX_KINDS)}")
