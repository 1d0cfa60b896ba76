"""What a result depends on besides its configuration: package versions, device, checkpoint hashes."""

from __future__ import annotations

import importlib.metadata
import os
import platform

import torch

PACKAGES = ("flowrestore", "torch", "numpy", "scikit-image", "scipy", "bm3d", "pillow")


def versions() -> dict[str, str | None]:
    """Installed versions (None when absent); flowrestore's own from the source when not installed."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    if out["flowrestore"] is None:
        import flowrestore

        out["flowrestore"] = flowrestore.__version__
    out["python"] = platform.python_version()
    return out


def device_description(device: str) -> dict:
    """The device a benchmark ran on, in words and numbers, for the time column's context."""
    d = torch.device(device)
    info: dict = {"device": str(d), "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    if d.type == "cuda":
        info["name"] = torch.cuda.get_device_name(d)
        info["cuda"] = torch.version.cuda
    else:
        info["name"] = platform.processor() or platform.machine()
    return info
