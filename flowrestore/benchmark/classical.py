"""Classical restorers from scikit-image (and BM3D when installed), each for one task.

Every restorer has the common signature `x_hat = restorer(y, operator)` on (B, C, H, W)
tensors and works image by image in float64 NumPy. The noise level is known to them (it is
part of the task), so the denoisers' strengths are set as multiples of sigma.

Boundary handling. Both deconvolutions work on the centred measurement y - 1/2, where our
operators act. `wiener` works in the Fourier domain on the image's own grid: it inverts the
periodic blur exactly, and the default zero-padded 5x5 blur up to its 2-pixel border.
`richardson_lucy` needs non-negative data and convolves with zero padding ('same') in [0, 1]
units; we pad the measurement by the kernel's size before it (periodically for the periodic
blur, with 1/2 grey, the centred zero, for the zero-padded one) and crop after, which makes its
model agree with ours except near the outer edge of the padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from flowrestore.operators import CENTRE, Blur, Inpaint, LinearOperator

# Chosen once on 100 validation images (CelebA-HQ val, Table I settings) by
#   python3 benchmarks/tune_classical.py --dataset /work/shared/data/celeba64/val --limit 100
# (grid and PSNR per value: docs/benchmark.md). Denoiser strengths are multiples of sigma.
TUNED = {
    "tv": {"weight_per_sigma": 1.0},  # 23.15 dB at sigma = 0.2
    "nlm": {"h_per_sigma": 0.5},  # 24.04 dB
    # 31.47 dB. So small because deblurring is noise-free: the only noise is float32 rounding.
    "wiener": {"balance": 1e-13},
    "richardson-lucy": {"num_iter": 100},  # 19.27 dB (300: 19.28 at 3x the time; 1000: 19.02)
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


def _kernel(operator: LinearOperator) -> np.ndarray:
    _expect(operator, Blur, "deconvolution")
    return operator.kernel.detach().to("cpu", torch.float64).numpy()


def wiener(balance: float = TUNED["wiener"]["balance"]) -> PerImage:
    """Wiener-Hunt deconvolution with a Laplacian regulariser weighted by `balance`."""
    from skimage.restoration import wiener as skimage_wiener

    def run(y: np.ndarray, operator: LinearOperator) -> np.ndarray:
        psf = _kernel(operator)
        channels = [skimage_wiener(y[..., c] - CENTRE, psf, balance, clip=False) for c in range(y.shape[-1])]
        return np.stack(channels, axis=-1) + CENTRE

    return PerImage(run)


def richardson_lucy(num_iter: int = TUNED["richardson-lucy"]["num_iter"]) -> PerImage:
    """Richardson-Lucy deconvolution on the periodically padded measurement (see module doc)."""
    from skimage.restoration import richardson_lucy as skimage_rl

    def run(y: np.ndarray, operator: LinearOperator) -> np.ndarray:
        psf = _kernel(operator)
        pad = min(psf.shape[0], y.shape[0]), min(psf.shape[1], y.shape[1])
        widths = (pad[:1] * 2, pad[1:] * 2, (0, 0))
        y = np.clip(y, 0, None)
        if operator.boundary == "periodic":
            padded = np.pad(y, widths, mode="wrap")
        else:
            padded = np.pad(y, widths, mode="constant", constant_values=CENTRE)
        channels = [skimage_rl(padded[..., c], psf, num_iter=num_iter, clip=False) for c in range(y.shape[-1])]
        out = np.stack(channels, axis=-1)
        return out[pad[0] : pad[0] + y.shape[0], pad[1] : pad[1] + y.shape[1]]

    return PerImage(run)


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
    "wiener": Classical("deblur", lambda s: wiener(), TUNED["wiener"], "skimage"),
    "richardson-lucy": Classical("deblur", lambda s: richardson_lucy(), TUNED["richardson-lucy"], "skimage"),
    "biharmonic": Classical("inpaint", lambda s: biharmonic(), {}, "skimage"),
}
