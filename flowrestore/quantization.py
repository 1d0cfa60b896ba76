"""8-bit weight storage: a model's convolution kernels as int8 with one scale per output channel.

A convolution kernel W (a floating tensor of four dimensions, at least `MIN_ELEMENTS` entries) is
stored as

    q = round(W / s) in int8,   s_o = max_j |W_oj| / 127   (one s per output channel o = W[o]),

with s (fp32, shape (channels, 1, 1, 1)) kept beside it under the name `<name>` + SCALE_SUFFIX. Reading
multiplies back: W ≈ q · s, an error of at most s_o / 2 per entry. Floating tensors whose entries
are all whole numbers in [-127, 127] (masks, permutations, signs) are stored as int8 without a
scale, which is exact. Everything else stays as it is given: ActNorm, biases, step sizes,
shrinkages, and the invertible 1x1 convolutions' LU factors, which are few and sensitive (rounding
them per row cost 0.13 dB on deblurring; benchmarks/weight_storage.py). The flows stay exactly
invertible either way: quantization changes which function a layer computes, not its structure.

`floating` names kernels to leave as they are: `output_convolution` selects the coupling networks'
zero-initialised last convolutions, the group whose rounding a denoiser tolerated least
(benchmarks/rounding_sensitivity.py); a file may keep those in fp16 and the rest as int8.
"""

from __future__ import annotations

from typing import Callable

import torch

SCALE_SUFFIX = ":scale"
MIN_ELEMENTS = 1024


def is_scale(name: str) -> bool:
    return name.endswith(SCALE_SUFFIX)


def output_convolution(name: str) -> bool:
    """Whether `name` is the kernel of a coupling network's last, zero-initialised convolution
    (flowrestore.flow.layers.ZeroConv2d, held as `.conv`)."""
    return name.endswith(".conv.weight")


def quantize(tensors: dict[str, torch.Tensor], min_elements: int = MIN_ELEMENTS,
             floating: Callable[[str], bool] | None = None) -> dict[str, torch.Tensor]:
    """The same tensors with every convolution kernel of at least `min_elements` entries as int8
    plus its per-channel fp32 scale, except those `floating` names, and whole-numbered floating
    tensors as int8."""
    out = {}
    for name, t in tensors.items():
        if t.is_floating_point() and _small_whole(t):
            out[name] = t.to(torch.int8)
            continue
        kernel = t.is_floating_point() and t.dim() == 4 and t.numel() >= min_elements
        if not kernel or (floating is not None and floating(name)):
            out[name] = t
            continue
        w = t.detach().float()
        rows = w.reshape(w.shape[0], -1)
        scale = rows.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / 127.0
        scale = scale.reshape(-1, *([1] * (w.dim() - 1)))
        out[name] = torch.round(w / scale).clamp(-127, 127).to(torch.int8).contiguous()
        out[name + SCALE_SUFFIX] = scale.contiguous()
    return out


def _small_whole(t: torch.Tensor) -> bool:
    return t.numel() > 0 and bool((t == torch.round(t)).all()) and float(t.abs().max()) <= 127


def dequantize(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo `quantize`: int8 tensors that have a scale become fp32 again; the scales are dropped.
    Int8 tensors without a scale stay int8 (whole numbers: the loader casts them to the model's dtype).
    A scale without its tensor, or an int8 tensor whose scale does not fit it, is a ValueError."""
    out = {}
    for name, t in tensors.items():
        if is_scale(name):
            base = name[: -len(SCALE_SUFFIX)]
            if base not in tensors:
                raise ValueError(f"scale {name!r} has no tensor {base!r}")
            continue
        scale = tensors.get(name + SCALE_SUFFIX)
        if scale is None:
            out[name] = t
            continue
        if t.dtype != torch.int8 or scale.dim() != t.dim() or scale.shape[0] != t.shape[0] or scale.numel() != t.shape[0]:
            raise ValueError(f"tensor {name!r} ({t.dtype}, {tuple(t.shape)}) does not match its scale {tuple(scale.shape)}")
        out[name] = t.float() * scale.float()
    return out


def stored_shapes(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The model's tensor shapes from a file's header shapes: the scales are not model tensors."""
    return {k: v for k, v in shapes.items() if not is_scale(k)}
