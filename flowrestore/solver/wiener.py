"""The Wiener initial guess for denoising: the MMSE estimate of x under a stationary Gaussian prior.

An extension (docs/method.md, "a Wiener initial guess"), for y = x + sigma*eta. The prior is a mean
colour c and a cross-spectrum S(f) between the colour channels that depends only on the radius |f|
of the spatial frequency (in cycles per pixel), fitted on training faces (`fit_spectrum`). Then

    x^(0) = c + F^-1[ S(f) (S(f) + sigma^2 I)^-1 F(y - c) ]

per frequency f (a C x C matrix, C the channels). The spectrum is a table of radii and the upper
triangle of S, so it holds for any image size: `spectrum_on_grid` interpolates it linearly in the
radius. sigma = 0 gives y itself; a very large sigma gives the mean colour. On the 486 celeba64/val
faces it takes sigma = 0.2 from 15.1 to 23.9 dB (benchmarks/wiener_start.py,
docs/results/denoise-initial-guess.md).
"""

from __future__ import annotations

import torch
from torch import Tensor

BINS = 24
_GRIDS: dict[tuple, tuple[Tensor, Tensor]] = {}  # (S on the grid, the mean colour) by table, mean, grid and device


def _triangle(channels: int) -> tuple[Tensor, Tensor]:
    return torch.triu_indices(channels, channels)


def _radius(height: int, width: int, device: torch.device | str = "cpu") -> Tensor:
    """|f| in cycles per pixel on an FFT grid, (H, W), float64."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64, device=device)
    fx = torch.fft.fftfreq(width, dtype=torch.float64, device=device)
    return torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


@torch.no_grad()
def fit_spectrum(x: Tensor, bins: int = BINS) -> tuple[tuple[float, ...], tuple[tuple[float, ...], ...]]:
    """(mean colour, table) of images x (N, C, H, W) in [0, 1]. Each row of the table is (radius, the
    upper triangle of S row by row): S averaged over the frequencies of one of `bins` equal radius bands,
    the row's radius the mean radius of its band's frequencies. Bands without a frequency are left out."""
    x = x.to(torch.float64)
    n, channels, height, width = x.shape
    mean = x.mean((0, 2, 3))
    spectra = torch.fft.fft2(x - mean[None, :, None, None])
    cross = torch.einsum("nchw,ndhw->hwcd", spectra, spectra.conj()).real / (n * height * width)
    radius = _radius(height, width)
    band = torch.bucketize(radius, torch.linspace(0, float(radius.max()) * (1 + 1e-9), bins + 1)[1:-1])
    rows, upper = [], _triangle(channels)
    for b in range(bins):
        inside = band == b
        if inside.any():
            s = cross[inside].mean(0)
            rows.append((float(radius[inside].mean()), *(float(v) for v in s[upper[0], upper[1]])))
    return tuple(float(v) for v in mean), tuple(rows)


def spectrum_on_grid(table: tuple[tuple[float, ...], ...], height: int, width: int,
                     device: torch.device | str = "cpu") -> Tensor:
    """S(f) on the FFT grid of an H x W image, (H, W, C, C) float64: the table's rows interpolated
    linearly in the radius, held constant beyond its first and last radius."""
    rows = torch.tensor(table, dtype=torch.float64, device=device)
    radii, values = rows[:, 0], rows[:, 1:]
    channels = int(round((-1 + (1 + 8 * values.shape[1]) ** 0.5) / 2))
    r = _radius(height, width, device).reshape(-1)
    right = torch.searchsorted(radii.contiguous(), r).clamp(1, len(radii) - 1)
    left = right - 1
    w = ((r - radii[left]) / (radii[right] - radii[left])).clamp(0, 1)[:, None]
    flat = values[left] * (1 - w) + values[right] * w  # (H*W, entries)
    s = torch.zeros(r.shape[0], channels, channels, dtype=torch.float64, device=device)
    upper = _triangle(channels).to(device)
    s[:, upper[0], upper[1]] = flat
    s[:, upper[1], upper[0]] = flat
    return s.reshape(height, width, channels, channels)


def _on_device(mean: tuple[float, ...], table: tuple[tuple[float, ...], ...], height: int, width: int,
               device: torch.device) -> tuple[Tensor, Tensor]:
    """S on the grid and the mean colour as tensors on `device`, cached: repeated calls (training steps, a
    step recorded as a CUDA graph) copy nothing from the host."""
    key = (mean, table, height, width, str(device))
    if key not in _GRIDS:
        if len(_GRIDS) >= 32:
            _GRIDS.clear()
        c = torch.tensor(mean, dtype=torch.float64, device=device)[None, :, None, None]
        _GRIDS[key] = (spectrum_on_grid(table, height, width, device), c)
    return _GRIDS[key]


@torch.no_grad()
def wiener(y: Tensor, mean: tuple[float, ...], table: tuple[tuple[float, ...], ...], sigma: Tensor) -> Tensor:
    """x^(0) above for noisy images y (B, C, H, W) in [0, 1] units with noise levels sigma (B,), in y's
    dtype; computed in float64."""
    b, channels, height, width = y.shape
    if len(mean) != channels:
        raise ValueError(f"the Wiener prior has {len(mean)} channels, the image {channels}")
    s, c = _on_device(mean, table, height, width, y.device)  # (H, W, C, C), (1, C, 1, 1)
    eye = torch.eye(channels, dtype=torch.float64, device=y.device)
    var = sigma.to(device=y.device, dtype=torch.float64).reshape(-1, 1, 1, 1, 1) ** 2
    # (S + v I)^-1 S, without the host sync of linalg.solve's error check
    gain = torch.linalg.solve_ex(s[None] + var * eye, s[None].expand(b, -1, -1, -1, -1))[0]
    gain = gain.transpose(-1, -2)  # S (S + v I)^-1, both symmetric
    spectrum = torch.fft.fft2(y.to(torch.float64) - c)  # (B, C, H, W)
    filtered = torch.einsum("bhwcd,bdhw->bchw", gain.to(spectrum.dtype), spectrum)
    return (torch.fft.ifft2(filtered).real + c).to(y.dtype)
