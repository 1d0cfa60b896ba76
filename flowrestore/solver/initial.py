"""Initial guesses x^(0) of the unrolled solver: the prior's most likely image, or a ridge inverse.

"prior" is the paper's (section III-C): x^(0) = g_1(0), the same image for every measurement.
"ridge" (an extension for deblurring, docs/method.md) starts from the measurement instead:

    x^(0) = 1/2 + argmin_v ||A v - (y - 1/2)||^2 + beta ||v||^2

For a separable blur, A v = A_h V A_w^T per channel (`Blur.factors`), and with the eigendecompositions
A_h^T A_h = Q_h diag(a) Q_h^T, A_w^T A_w = Q_w diag(b) Q_w^T the minimiser is exact and cheap:

    V = Q_h [ (Q_h^T A_h^T (Y - 1/2) A_w Q_w) / (a b^T + beta) ] Q_w^T

Four gradient data steps cannot undo a 5x5 blur; this does, up to what beta holds back.
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from flowrestore.operators.base import CENTRE, LinearOperator

INITIAL_GUESSES = ("prior", "ridge", "wiener")  # wiener: flowrestore.solver.wiener


_EIGEN: dict[str, tuple[Tensor, Tensor]] = {}  # F^T F's eigendecomposition by F's bytes: one per size and blur


def _eigen(f: Tensor) -> tuple[Tensor, Tensor]:
    """(eigenvalues, eigenvectors) of F^T F for a 1-D factor F (float64, on the CPU), cached."""
    key = hashlib.sha1(f.numpy().tobytes()).hexdigest() + str(tuple(f.shape))
    if key not in _EIGEN:
        if len(_EIGEN) >= 32:
            _EIGEN.clear()
        _EIGEN[key] = torch.linalg.eigh(f.T @ f)
    return _EIGEN[key]


class NotSeparable(ValueError):
    """The operator is not a separable blur, so it has no ridge inverse here."""


def _basis(operator: LinearOperator, height: int, width: int, device: torch.device) -> tuple[Tensor, ...]:
    """(F_h, F_w, Q_h, Q_w, a, b) in float64 on `device`, cached on the operator per grid and device: repeated
    calls (training steps, a step recorded as a CUDA graph) move nothing between host and device."""
    cache = operator.__dict__.setdefault("_ridge_basis", {})  # a cache, not state: not a module attribute
    key = (height, width, str(device))
    if key not in cache:
        factors = operator.factors(height, width)
        if factors is None:
            raise NotSeparable(f"a ridge initial guess needs a separable blur operator, not {operator.name}")
        f_h, f_w = (f.detach().to("cpu", torch.float64) for f in factors)
        (a, q_h), (b, q_w) = _eigen(f_h), _eigen(f_w)
        cache[key] = tuple(t.to(device) for t in (f_h, f_w, q_h, q_w, a, b))
    return cache[key]


@torch.no_grad()
def ridge(y: Tensor, operator: LinearOperator, balance: float | Tensor) -> Tensor:
    """The ridge inverse above for measurements y (B, C, H, W) in [0, 1] units, in y's dtype;
    `balance` is beta, one number or one per image (B,)."""
    f_h, f_w, q_h, q_w, a, b = _basis(operator, *y.shape[-2:], y.device)
    rhs = f_h.T @ (y.to(torch.float64) - CENTRE) @ f_w  # A^T (y - 1/2), (B, C, H, W)
    if isinstance(balance, Tensor):
        beta = balance.to(device=y.device, dtype=torch.float64).reshape(-1, 1, 1, 1)
    else:  # filled on the device: no copy from the host
        beta = torch.full((1, 1, 1, 1), float(balance), dtype=torch.float64, device=y.device)
    v = q_h @ ((q_h.T @ rhs @ q_w) / (a[:, None] * b[None, :] + beta)) @ q_w.T
    return (v + CENTRE).to(y.dtype)
