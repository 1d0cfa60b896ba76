"""Tiny image folders and tiny checkpoints (saved with save_model) for the benchmark tests."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flowrestore.flow import Glow, GlowConfig
from flowrestore.operators import TaskSpec
from flowrestore.serialization import save_model
from flowrestore.solver import ResNetConfig, SolverConfig, UNetConfig, UnrolledSolver

SIZE = 32  # the smallest size that fits the 19x19 mask and the 31x31 kernel of sigma_b = 5
TINY = GlowConfig(channels=3, levels=2, depth=2, hidden=8)


def smooth_image(seed: int, size: int = SIZE) -> np.ndarray:
    """A smooth colour image in [0.1, 0.9]: a few low-frequency waves per channel, (H, W, 3)."""
    rng = np.random.default_rng(seed)
    r = np.linspace(0, 1, size)
    yy, xx = np.meshgrid(r, r, indexing="ij")
    channels = []
    for _ in range(3):
        a, b, c, d = rng.uniform(0.5, 2.0, 4)
        channels.append(0.5 + 0.2 * np.sin(2 * np.pi * (a * xx + b * yy) / 2 + c) + 0.15 * np.cos(np.pi * d * yy))
    return np.clip(np.stack(channels, axis=-1), 0.1, 0.9)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """Seven 32x32 PNGs, two of them in a subfolder (the loader recurses)."""
    folder = tmp_path_factory.mktemp("faces")
    (folder / "sub").mkdir()
    for i in range(7):
        path = folder / ("sub" if i >= 5 else ".") / f"img{i}.png"
        Image.fromarray((smooth_image(i) * 255).round().astype(np.uint8)).save(path)
    return folder


def _prior() -> Glow:
    torch.manual_seed(1)
    prior = Glow(TINY)
    prior(torch.rand(4, 3, SIZE, SIZE))  # data-dependent actnorm initialisation
    return prior


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory) -> Path:
    """celeba-prior and {glow,pnp,unet,resnet}-{denoise,inpaint,deblur} as tiny models."""
    folder = tmp_path_factory.mktemp("checkpoints")
    prior = _prior()
    save_model(folder / "celeba-prior.safetensors", prior)
    for task in ("denoise", "inpaint", "deblur"):
        extra = {"task": TaskSpec.default(task).to_dict()}
        models = {
            "glow": UnrolledSolver.from_prior(prior, SolverConfig(folds=2, init_step_size=0.9)),
            "pnp": UnrolledSolver.from_prior(prior, SolverConfig(folds=2, tied=True)),
            "unet": UnrolledSolver(SolverConfig(folds=2, prox="unet", prox_config=UNetConfig(width=4, depth=2))),
            "resnet": UnrolledSolver(SolverConfig(folds=2, prox="resnet", prox_config=ResNetConfig(width=8))),
        }
        for name, model in models.items():
            save_model(folder / f"{name}-{task}.safetensors", model, extra=extra)
    return folder


@pytest.fixture(scope="session")
def checkpoints(checkpoint_dir) -> dict[str, Path]:
    return {p.stem: p for p in checkpoint_dir.glob("*.safetensors")}


@pytest.fixture(scope="session")
def smooth():
    """The smooth test image generator, smooth(seed) -> (H, W, 3) array."""
    return smooth_image


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models gain nothing from threads, and on a shared machine spinning threads stall."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
