"""GLOW's invertible layers: actnorm, LU 1x1 convolution, affine coupling, squeeze and split.

Every layer acts on a *state*, a tuple of tensors whose last entry is the active
tensor; squeeze and split change its shape, split moves half of it out into a
latent that stays in the state untouched until decoding brings it back. Each layer
has `forward(state) -> (state, ladj)` with ladj of shape (B,) and `inverse(state) -> state`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

State = tuple[Tensor, ...]


def _with_active(state: State, active: Tensor) -> State:
    return (*state[:-1], active)


class ActNorm(nn.Module):
    """Per-channel affine map, initialised from the first batch it sees.

    The `initialized` buffer travels with the weights, so loading a checkpoint
    never re-runs the data-dependent initialisation.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))
        self._known_initialized = False  # mirrors the buffer without a device sync per call

    def _load_from_state_dict(self, *args, **kwargs):
        self._known_initialized = False
        super()._load_from_state_dict(*args, **kwargs)

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True) if x[:, 0].numel() > 1 else torch.ones_like(mean)
        self.loc.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(True)
        self._known_initialized = True

    def forward(self, state: State) -> tuple[State, Tensor]:
        x = state[-1]
        if not self._known_initialized:
            if bool(self.initialized):
                self._known_initialized = True
            else:
                self.initialize(x)
        y = (x + self.loc) * torch.exp(self.log_scale)
        ladj = self.log_scale.sum() * x.shape[2] * x.shape[3]
        return _with_active(state, y), ladj.expand(x.shape[0])

    def inverse(self, state: State) -> State:
        y = state[-1]
        return _with_active(state, y * torch.exp(-self.log_scale) - self.loc)


class InvConv2d(nn.Module):
    """Invertible 1x1 convolution, LU-parametrised so that its log-determinant is a sum."""

    def __init__(self, channels: int):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels))
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("permutation", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower * self.lower_mask)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))

    def _factors(self) -> tuple[Tensor, Tensor]:
        eye = torch.eye(self.lower.shape[0], dtype=self.lower.dtype, device=self.lower.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return lower, upper

    def weight(self) -> Tensor:
        with torch.autocast(self.lower.device.type, enabled=False):
            lower, upper = self._factors()
            return self.permutation @ lower @ upper

    def inverse_weight(self) -> Tensor:
        """W^-1 = U^-1 L^-1 P^T by two triangular solves: no general inverse, no device sync."""
        with torch.autocast(self.lower.device.type, enabled=False):
            lower, upper = self._factors()
            eye = torch.eye(lower.shape[0], dtype=lower.dtype, device=lower.device)
            l_inv = torch.linalg.solve_triangular(lower, eye, upper=False, unitriangular=True)
            u_inv = torch.linalg.solve_triangular(upper, eye, upper=True)
            return u_inv @ l_inv @ self.permutation.T

    def forward(self, state: State) -> tuple[State, Tensor]:
        x = state[-1]
        y = F.conv2d(x, self.weight().to(x.dtype)[:, :, None, None])
        ladj = self.log_s.sum() * x.shape[2] * x.shape[3]
        return _with_active(state, y), ladj.expand(x.shape[0])

    def inverse(self, state: State) -> State:
        y = state[-1]
        w_inv = self.inverse_weight().to(y.dtype)
        return _with_active(state, F.conv2d(y, w_inv[:, :, None, None]))


class ZeroConv2d(nn.Module):
    """3x3 convolution that starts at zero, so every coupling starts as the identity."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.log_gain = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) * torch.exp(3 * self.log_gain)


class AffineCoupling(nn.Module):
    """y_a = (x_a + t) * s, y_b = x_b, with (log_s, t) = NN(x_b) and
    s = floor + (1 - floor) * sigmoid(log_s + 2).

    GLOW's plain sigmoid scale is floor = 0. A floor bounds how much the inverse can
    expand (by 1/floor per coupling): the unrolled solver decodes latents of noisy,
    masked and blurred images, far from the training data, and without a floor
    trained priors contract some dimensions by 1000x, so that decoding amplifies float32
    rounding until it overflows.
    """

    def __init__(self, channels: int, hidden: int, scale_floor: float = 0.0):
        super().__init__()
        self.scale_floor = scale_floor
        self.n_b = channels // 2
        n_a = channels - self.n_b
        self.net = nn.Sequential(
            nn.Conv2d(self.n_b, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(),
            ZeroConv2d(hidden, 2 * n_a),
        )

    def _scale_shift(self, x_b: Tensor) -> tuple[Tensor, Tensor]:
        h = self.net(x_b)
        log_s, t = h[:, 0::2], h[:, 1::2]
        return self.scale_floor + (1 - self.scale_floor) * torch.sigmoid(log_s + 2.0), t

    def forward(self, state: State) -> tuple[State, Tensor]:
        x = state[-1]
        x_a, x_b = x[:, self.n_b :], x[:, : self.n_b]
        s, t = self._scale_shift(x_b)
        y_a = (x_a + t) * s
        ladj = torch.log(s).flatten(1).sum(1)
        return _with_active(state, torch.cat([x_b, y_a], dim=1)), ladj

    def inverse(self, state: State) -> State:
        y = state[-1]
        y_b, y_a = y[:, : self.n_b], y[:, self.n_b :]
        s, t = self._scale_shift(y_b)
        return _with_active(state, torch.cat([y_b, y_a / s - t], dim=1))


def _zero_ladj(x: Tensor) -> Tensor:
    return x.new_zeros(x.shape[0])


class Squeeze(nn.Module):
    """(B, C, H, W) -> (B, 4C, H/2, W/2): trades space for channels."""

    def forward(self, state: State) -> tuple[State, Tensor]:
        x = state[-1]
        b, c, h, w = x.shape
        y = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
        return _with_active(state, y.reshape(b, 4 * c, h // 2, w // 2)), _zero_ladj(x)

    def inverse(self, state: State) -> State:
        y = state[-1]
        b, c4, h, w = y.shape
        x = y.reshape(b, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
        return _with_active(state, x.reshape(b, c4 // 4, 2 * h, 2 * w))


class Split(nn.Module):
    """Factors half the channels out as a latent with a fixed standard-normal prior."""

    def forward(self, state: State) -> tuple[State, Tensor]:
        x = state[-1]
        keep = x.shape[1] // 2
        return (*state[:-1], x[:, keep:], x[:, :keep]), _zero_ladj(x)

    def inverse(self, state: State) -> State:
        z, h = state[-2], state[-1]
        return (*state[:-2], torch.cat([h, z], dim=1))


class Center(nn.Module):
    """Maps images in [0, 1] to [-0.5, 0.5], where the flow works."""

    def forward(self, state: State) -> tuple[State, Tensor]:
        return _with_active(state, state[-1] - 0.5), _zero_ladj(state[-1])

    def inverse(self, state: State) -> State:
        return _with_active(state, state[-1] + 0.5)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """Log-density of a standard normal, summed over all but the batch dimension."""
    return (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
