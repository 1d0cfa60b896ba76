"""Classical restorers from scikit-image (and BM3D when installed), each for one task.

Every restorer has the common signature `x_hat = restorer(y, operator)` on (B, C, H, W)
tensors and works image by image in float64 NumPy. The noise level is known to them (it is
part of the task), so the denoisers' strengths are set as multiples of sigma.

The two deconvolutions (`wiener`, `richardson_lucy`) are written against our operator itself
(A and A^T, in torch), so they model either blur boundary exactly; scikit-image's versions
assume one boundary each and fell apart on the paper's zero-padded 5x5 blur.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from flowrestore.operators import CENTRE, Blur, Inpaint, LinearOperator

# Chosen once on 100 validation images (CelebA-HQ val, Table I settings) by
#   python3 benchmarks/tune_classical.py --dataset /work/shared/data/celeba64/val --limit 100
# (grid and PSNR per value: docs/benchmark.md). Denoiser strengths are multiples of sigma.
TUNED = {
    "tv": {"weight_per_sigma": 1.0},  # 23.15 dB at sigma = 0.2
    "nlm": {"h_per_sigma": 0.5},  # 24.04 dB
    # Deconvolution, for the paper's 5x5 zero-padded blur: a first look on 16 celeba64/val faces
    # (Tikhonov-CG balance 1e-6: 36.8 dB; 1e-4: 32.2; 1e-3: 28.9; Richardson-Lucy 300 iterations:
    # 31.1, 100: 29.4). The 100-image grid of benchmarks/tune_classical.py is still to be rerun.
    "wiener": {"balance": 1e-6},
    "richardson-lucy": {"num_iter": 300},
}



class PerImage:
    """Turns a NumPy function of one (H, W, C) image into a batch restorer."""

    def __init__(self, fn: Callable[[np.ndarray, LinearOperator], np.ndarray]):
        self.fn = fn

    def __call__(self, y: Tensor, operator: LinearOperator) -> Tensor:
        arrays = y.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()
        out = np.stack([self.fn(a, operator) for a in arrays])
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(y)


def _expect(operator: LinearOperator, kind: type, method: str) -> None:
    if not isinstance(operator, kind):
        raise ValueError(f"{method} restores {kind.name} measurements, not {operator.name}")


def tv(noise_sigma: float, weight_per_sigma: float = TUNED["tv"]["weight_per_sigma"]) -> PerImage:
    """Total-variation denoising (Chambolle's projection), weight = weight_per_sigma * sigma."""
    from skimage.restoration import denoise_tv_chambolle

    def run(y: np.ndarray, operator: LinearOperator) -> np.ndarray:
        return denoise_tv_chambolle(y, weight=weight_per_sigma * noise_sigma, channel_axis=-1)

    return PerImage(run)


def nlm(noise_sigma: float, h_per_sigma: float = TUNED["nlm"]["h_per_sigma"]) -> PerImage:
    """Non-local means (5x5 patches, 13x13 search), filter strength h = h_per_sigma * sigma."""
    from skimage.restoration import denoise_nl_means

    def run(y: np.ndarray, operator: LinearOperator) -> np.ndarray:
        return denoise_nl_means(
            y, patch_size=5, patch_distance=6, h=h_per_sigma * noise_sigma, sigma=noise_sigma,
            fast_mode=True, channel_axis=-1,
        )

    return PerImage(run)


def bm3d(noise_sigma: float) -> PerImage:
    """Colour BM3D (opponent colour space) from the `bm3d` package, given the true sigma."""
    import bm3d as bm3d_package

    def run(y: np.ndarray, operator: LinearOperator) -> np.ndarray:
        return np.asarray(bm3d_package.bm3d_rgb(y, sigma_psd=noise_sigma), dtype=np.float64)

    return PerImage(run)


class Deconvolution:
    """A batch restorer for `Blur` measurements that works with the operator itself (A, A^T), so it
    models either boundary exactly."""

    def __init__(self, fn: Callable[[Tensor, Blur], Tensor]):
        self.fn = fn

    def __call__(self, y: Tensor, operator: LinearOperator) -> Tensor:
        _expect(operator, Blur, "deconvolution")
        with torch.no_grad():
            return self.fn(y.to(torch.float64), operator.to(torch.float64)).to(y)


def _laplacian(x: Tensor) -> Tensor:
    """The 5-point Laplacian with zero padding (self-adjoint), per channel."""
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=x.dtype, device=x.device)
    return F.conv2d(x, k[None, None].expand(x.shape[1], 1, 3, 3), padding=1, groups=x.shape[1])


def wiener(balance: float = TUNED["wiener"]["balance"], iterations: int = 300) -> Deconvolution:
    """Wiener-Hunt (Tikhonov) deconvolution: argmin ||A x - y||^2 + balance ||Laplacian x||^2 on the
    centred images, solved by conjugate gradients on the normal equations."""

    def run(y: Tensor, operator: Blur) -> Tensor:
        def normal(v: Tensor) -> Tensor:
            return operator.A_adjoint(operator.A(v)) + balance * _laplacian(_laplacian(v))

        b = operator.A_adjoint(y - CENTRE)
        x = torch.zeros_like(b)
        r = b.clone()
        p = r.clone()
        rr = (r * r).flatten(1).sum(1)
        for _ in range(iterations):
            q = normal(p)
            alpha = rr / (p * q).flatten(1).sum(1).clamp_min(1e-300)
            x = x + alpha[:, None, None, None] * p
            r = r - alpha[:, None, None, None] * q
            rr_new = (r * r).flatten(1).sum(1)
            p = r + (rr_new / rr.clamp_min(1e-300))[:, None, None, None] * p
            rr = rr_new
        return x + CENTRE

    return Deconvolution(run)


def richardson_lucy(num_iter: int = TUNED["richardson-lucy"]["num_iter"]) -> Deconvolution:
    """Richardson-Lucy for y = K x + b in [0, 1] units, with b = A(-1/2) + 1/2 the operator's own
    offset (zero for the periodic blur, the grey border of the zero-padded one)."""

    def run(y: Tensor, operator: Blur) -> Tensor:
        y = y.clamp_min(0)
        offset = operator.measure_clean(torch.zeros_like(y))  # b = K 0 + b
        norm = operator.A_adjoint(torch.ones_like(y)).clamp_min(1e-12)  # K^T 1
        x = torch.full_like(y, CENTRE)
        for _ in range(num_iter):
            ratio = y / (operator.A(x) + offset).clamp_min(1e-12)
            x = x * operator.A_adjoint(ratio) / norm
        return x

    return Deconvolution(run)


def biharmonic() -> PerImage:
    """Biharmonic inpainting of the missing pixels (the mask's zeros)."""
    from skimage.restoration import inpaint_biharmonic

    def run(y: np.ndarray, operator: LinearOperator) -> np.ndarray:
        _expect(operator, Inpaint, "biharmonic inpainting")
        mask = operator.mask.detach().cpu().numpy()[0, 0] < 0.5  # True where missing
        return inpaint_biharmonic(y, mask, channel_axis=-1)

    return PerImage(run)


@dataclass(frozen=True)
class Classical:
    """How to build one classical restorer for a task with a given noise level."""

    task: str
    build: Callable[[float], PerImage]
    parameters: dict
    requires: str  # the module it imports


CLASSICAL: dict[str, Classical] = {
    "tv": Classical("denoise", lambda s: tv(s), TUNED["tv"], "skimage"),
    "nlm": Classical("denoise", lambda s: nlm(s), TUNED["nlm"], "skimage"),
    "bm3d": Classical("denoise", lambda s: bm3d(s), {"sigma_psd": "true sigma", "profile": "np"}, "bm3d"),
    "wiener": Classical("deblur", lambda s: wiener(), TUNED["wiener"], "torch"),
    "richardson-lucy": Classical("deblur", lambda s: richardson_lucy(), TUNED["richardson-lucy"], "torch"),
    "biharmonic": Classical("inpaint", lambda s: biharmonic(), {}, "skimage"),
}
