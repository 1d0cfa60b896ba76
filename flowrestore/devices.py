"""Choosing the device explicitly: cpu, cuda, cuda:N, or auto (CUDA when present, and say so).

The one chooser of every command and script: `restore`, `benchmark`, training and scripts/.
"""

from __future__ import annotations

import os
import re

import torch

from flowrestore.errors import DeviceError

CHOICES = ("auto", "cpu", "cuda")  # and cuda:N, the N-th visible GPU


def pick_device(choice: str) -> torch.device:
    """The device for `choice`; a CUDA device without a usable GPU is an error, never a silent
    CPU run. With "auto" the caller should say which device it got."""
    if choice == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if choice == "auto":
        if not available:
            return torch.device("cpu")
        exact_float32()
        return torch.device("cuda")
    if choice != "cuda" and not re.fullmatch(r"cuda:\d+", choice):
        raise DeviceError(f"unknown device {choice!r}; use one of {', '.join(CHOICES)} or cuda:N")
    if not available:
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no GPU visible"
        raise DeviceError(
            f"--device {choice}: CUDA is not available (torch {torch.__version__}, {build}); use --device cpu"
        )
    device = torch.device(choice)
    if device.index is not None and device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise DeviceError(f"--device {choice}: this machine has {count} GPU{'s' * (count != 1)} (cuda:0 to cuda:{count - 1})")
    exact_float32()
    return device


def exact_float32() -> None:
    """Full float32 convolutions and matrix products on CUDA: no TF32. A GLOW prox decodes its latent
    through every coupling's inverse, which amplifies TF32's rounding (10 bits of mantissa): with
    TF32 the shipped denoiser restores at 21.1 dB instead of 25.0 on an H200 (docs/training.md).
    FLOWRESTORE_ALLOW_TF32=1 in the environment allows TF32, to measure what it costs."""
    allow = os.environ.get(ALLOW_TF32) == "1"
    torch.backends.cudnn.allow_tf32 = allow
    torch.backends.cuda.matmul.allow_tf32 = allow


ALLOW_TF32 = "FLOWRESTORE_ALLOW_TF32"


def recording_graph(tensor: torch.Tensor) -> bool:
    """Whether `tensor`'s work is being recorded into a CUDA graph now (flowrestore.training.graphed),
    when nothing may read a value on the host. False on a CPU, and on a CPU-only build of torch."""
    return tensor.is_cuda and torch.cuda.is_current_stream_capturing()
