"""The multi-scale GLOW model: configuration, presets, encode, decode and likelihood.

The latent of an image is a tuple of tensors, one per level: the halves split off
after levels 1..L-1 and the final level's output (for 64x64 RGB and 3 levels:
(B, 6, 32, 32), (B, 12, 16, 16), (B, 48, 8, 8)). Every entry has a fixed standard
normal prior, so z = 0 is the flow's most likely point.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from flowrestore.errors import UsageError
from flowrestore.flow.layers import (
    ActNorm,
    AffineCoupling,
    Center,
    InvConv2d,
    Split,
    Squeeze,
    State,
    standard_normal_log_prob,
)

Latent = tuple[Tensor, ...]


@dataclass(frozen=True)
class GlowConfig:
    """Architecture of a GLOW flow; stored inside every checkpoint."""

    channels: int = 3
    levels: int = 3
    depth: int = 8
    hidden: int = 64
    scale_floor: float = 0.5  # lower bound of each coupling's scale; 0 is GLOW's plain sigmoid

    def __post_init__(self) -> None:
        if self.levels < 1 or self.depth < 1 or self.hidden < 1 or self.channels < 1:
            raise UsageError(f"GlowConfig needs positive sizes, got {self}")
        if not 0 <= self.scale_floor < 1:
            raise UsageError(f"scale_floor must lie in [0, 1), got {self.scale_floor}")

    @property
    def size_multiple(self) -> int:
        """Image height and width must be multiples of this."""
        return 2**self.levels

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, GlowConfig] = {
    # Section V-B of the paper: 4 levels, depth 18, 512 hidden channels (about 40M parameters).
    "paper": GlowConfig(levels=4, depth=18, hidden=512),
    # Sized so that a prior plus three 4-fold task models fit the repository's 30 MB as fp16.
    "compact": GlowConfig(levels=3, depth=8, hidden=64),
    # For tests: a few thousand parameters.
    "tiny": GlowConfig(levels=2, depth=2, hidden=8),
}


def preset(name: str, channels: int = 3) -> GlowConfig:
    if name not in PRESETS:
        raise UsageError(f"unknown GLOW preset {name!r}; choose one of {', '.join(PRESETS)}")
    base = PRESETS[name]
    return GlowConfig(channels=channels, levels=base.levels, depth=base.depth, hidden=base.hidden,
                      scale_floor=base.scale_floor)


def build_layers(config: GlowConfig) -> list[nn.Module]:
    """The flat list of invertible layers, in encoding order."""
    layers: list[nn.Module] = [Center()]
    channels = config.channels
    for level in range(config.levels):
        layers.append(Squeeze())
        channels *= 4
        for _ in range(config.depth):  # one step of flow: actnorm, 1x1 conv, coupling
            layers.extend([ActNorm(channels), InvConv2d(channels),
                           AffineCoupling(channels, config.hidden, config.scale_floor)])
        if level < config.levels - 1:
            layers.append(Split())
            channels //= 2
    return layers


class Glow(nn.Module):
    """x (B, C, H, W) in [0, 1]  <->  latent tuple, with exact log-likelihood."""

    def __init__(self, config: GlowConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(build_layers(config))

    def check_size(self, x: Tensor) -> None:
        m = self.config.size_multiple
        if x.dim() != 4 or x.shape[1] != self.config.channels:
            raise ValueError(
                f"expected images of shape (B, {self.config.channels}, H, W), got {tuple(x.shape)}"
            )
        if x.shape[2] % m or x.shape[3] % m:
            raise UsageError(
                f"image size {x.shape[2]}x{x.shape[3]} is not a multiple of {m} "
                f"(2^levels); pad the image first"
            )

    def forward(self, x: Tensor) -> tuple[Latent, Tensor]:
        """Encode with the log-determinant of the Jacobian, shape (B,)."""
        self.check_size(x)
        state: State = (x,)
        ladj = x.new_zeros(x.shape[0])
        for layer in self.layers:
            state, step_ladj = layer(state)
            ladj = ladj + step_ladj
        return state, ladj

    def encode(self, x: Tensor) -> Latent:
        return self(x)[0]

    def decode(self, z: Latent) -> Tensor:
        state: State = tuple(z)
        for layer in reversed(self.layers):
            state = layer.inverse(state)
        (x,) = state
        return x

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) in nats per image for continuous x in [0, 1], shape (B,)."""
        z, ladj = self(x)
        return sum(standard_normal_log_prob(zi) for zi in z) + ladj

    def latent_shapes(self, channels: int, height: int, width: int) -> list[tuple[int, int, int]]:
        shapes = []
        c, h, w = channels, height, width
        for level in range(self.config.levels):
            c, h, w = 4 * c, h // 2, w // 2
            if level < self.config.levels - 1:
                shapes.append((c - c // 2, h, w))
                c = c // 2
        shapes.append((c, h, w))
        return shapes

    def zeros_latent(self, batch: int, height: int, width: int, like: Tensor) -> Latent:
        shapes = self.latent_shapes(self.config.channels, height, width)
        return tuple(like.new_zeros(batch, *s) for s in shapes)

    @torch.no_grad()
    def sample(
        self, n: int, height: int, width: int, temperature: float = 0.7, generator: torch.Generator | None = None
    ) -> Tensor:
        ref = next(self.parameters())
        shapes = self.latent_shapes(self.config.channels, height, width)
        z = tuple(
            (torch.randn(n, *s, generator=generator) * temperature).to(ref) for s in shapes
        )
        return self.decode(z)


def bits_per_dim(log_prob: Tensor, dims: int, n_bits: int = 8) -> Tensor:
    """Bits per dimension of a discrete image with 2**n_bits levels, from the continuous
    log-density of its uniformly dequantised version in [0, 1]."""
    log_p_discrete = log_prob - dims * n_bits * math.log(2)
    return -log_p_discrete / (dims * math.log(2))
