"""MAP estimation with a GLOW prior by optimising the latent (Asim et al., 2020).

    z_hat = argmin_z ||y - A g(z)||^2 + gamma ||z||^2,    x_hat = g(z_hat),

from z = 0 (the prior's most likely image), for a fixed number of optimiser steps. With
Gaussian noise of level sigma and a standard normal latent, gamma = sigma^2 makes this the
exact posterior mode in z; for noise-free tasks sigma^2 = 0 leaves only the implicit
regularisation of starting at z = 0 and stopping early, so we keep a small floor.

Asim et al. ran L-BFGS (lr 1, 20 steps, each up to 20 inner iterations) on a batch of six images
jointly, with the penalty gamma ||z|| and gamma chosen per row on the test images. Here every image
is optimised on its own (L-BFGS's line search would couple a batch), so results do not depend on
the batch size; Adam, being elementwise, runs a whole batch at once with the same effect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from flowrestore.errors import UsageError
from flowrestore.flow.glow import Glow, Latent
from flowrestore.operators import LinearOperator


@dataclass(frozen=True)
class MapConfig:
    steps: int = 20
    optimizer: str = "lbfgs"  # "lbfgs" | "adam"
    lr: float = 1.0  # Asim et al.'s L-BFGS learning rate; use ~0.05 for Adam
    lbfgs_max_iter: int = 20  # inner iterations per L-BFGS step (torch's default)
    gamma: float | None = None  # None: max(sigma^2, gamma_floor)
    gamma_floor: float = 1e-3

    def __post_init__(self) -> None:
        if self.optimizer not in ("lbfgs", "adam"):
            raise UsageError(f"MAP optimizer must be lbfgs or adam, got {self.optimizer!r}")
        if self.steps < 1:
            raise UsageError(f"MAP needs at least one step, got {self.steps}")
        if self.gamma is not None and self.gamma < 0:
            raise UsageError(f"MAP gamma must be non-negative, got {self.gamma}")

    def weight(self, noise_sigma: float) -> float:
        return self.gamma if self.gamma is not None else max(noise_sigma**2, self.gamma_floor)

    def to_dict(self) -> dict:
        return asdict(self)


def _flat(z: Latent) -> Tensor:
    return torch.cat([t.flatten(1) for t in z], dim=1)


class LatentMAP:
    """A restorer `x_hat = map(y, operator)` that optimises GLOW's latent for each image."""

    def __init__(self, prior: Glow, config: MapConfig = MapConfig(), noise_sigma: float = 0.0):
        self.prior = prior
        self.config = config
        self.gamma = config.weight(noise_sigma)

    def objective(self, z: Latent, y: Tensor, operator: LinearOperator) -> Tensor:
        """||y - A g(z)||^2 + gamma ||z||^2 for every image, shape (B,)."""
        residual = operator.residual(self.prior.decode(z), y).flatten(1)
        return residual.pow(2).sum(1) + self.gamma * _flat(z).pow(2).sum(1)

    def zeros(self, y: Tensor) -> Latent:
        b, _, h, w = y.shape
        return self.prior.zeros_latent(b, h, w, like=y)

    def _lbfgs(self, y: Tensor, operator: LinearOperator) -> Latent:
        z = tuple(t.requires_grad_(True) for t in self.zeros(y))
        opt = torch.optim.LBFGS(z, lr=self.config.lr, max_iter=self.config.lbfgs_max_iter)

        def closure() -> Tensor:
            opt.zero_grad()
            loss = self.objective(z, y, operator).sum()
            loss.backward()
            return loss

        for _ in range(self.config.steps):
            opt.step(closure)
        return tuple(t.detach() for t in z)

    def _adam(self, y: Tensor, operator: LinearOperator) -> Latent:
        z = tuple(t.requires_grad_(True) for t in self.zeros(y))
        opt = torch.optim.Adam(z, lr=self.config.lr)
        for _ in range(self.config.steps):
            opt.zero_grad()
            self.objective(z, y, operator).sum().backward()
            opt.step()
        return tuple(t.detach() for t in z)

    def solve(self, y: Tensor, operator: LinearOperator) -> Latent:
        """The optimised latent of every image of the batch."""
        with torch.enable_grad():
            if self.config.optimizer == "adam":
                return self._adam(y, operator)
            per_image = [self._lbfgs(y[i : i + 1], _one(operator, i)) for i in range(y.shape[0])]
            return tuple(torch.cat(parts) for parts in zip(*per_image))

    def __call__(self, y: Tensor, operator: LinearOperator) -> Tensor:
        z = self.solve(y, operator)
        with torch.no_grad():
            return self.prior.decode(z)


def _one(operator: LinearOperator, index: int) -> LinearOperator:
    """The operator for image `index` of a batch; ours share one mask or kernel over the batch."""
    mask = getattr(operator, "mask", None)
    if mask is not None and mask.shape[0] > 1:
        return type(operator)(mask[index : index + 1])
    return operator
