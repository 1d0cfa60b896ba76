"""Choosing the device explicitly: cpu, cuda, or auto (CUDA when present, and say so)."""

from __future__ import annotations

import torch

from flowrestore.errors import DeviceError

CHOICES = ("auto", "cpu", "cuda")


def pick_device(choice: str) -> torch.device:
    """The device for `choice`; "cuda" without a usable GPU is an error, never a silent CPU run."""
    if choice not in CHOICES:
        raise DeviceError(f"unknown device {choice!r}; use one of {', '.join(CHOICES)}")
    if choice == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if choice == "cuda" and not available:
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no GPU visible"
        raise DeviceError(
            f"--device cuda: CUDA is not available (torch {torch.__version__}, {build}); use --device cpu"
        )
    return torch.device("cuda" if available else "cpu")
