"""Tiny checkpoints, images and registries for the imageio, restore, checkpoints and CLI tests."""

from __future__ import annotations

import hashlib
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flowrestore.flow import Glow, preset
from flowrestore.operators import TaskSpec
from flowrestore.serialization import save_model
from flowrestore.solver import SolverConfig, UnrolledSolver


@contextmanager
def single_thread():
    """Tiny models run far faster on one thread: on a busy 2-core machine a 12x12 LU took
    20 ms with two threads and 20 us with one, and the flow calls one per layer."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Autouse in every test module that imports it."""
    with single_thread():
        yield


def tiny_solver(task: str = "denoise") -> UnrolledSolver:
    """A 2-fold solver on the tiny GLOW (size multiple 4), its ActNorms initialised."""
    prior = Glow(preset("tiny"))
    with torch.no_grad():
        prior(torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
    solver = UnrolledSolver.from_prior(prior, SolverConfig(folds=2))
    return solver.eval()


def save_tiny(path: Path, task: str | None = "denoise") -> Path:
    """A tiny task checkpoint (task=None: the tiny GLOW prior itself)."""
    if task is None:
        save_model(path, tiny_solver().proxes[0].flow)
    else:
        save_model(path, tiny_solver(task), extra={"task": TaskSpec.default(task).to_dict()})
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_registry(path: Path, rows: list[dict]) -> Path:
    """A checkpoints.toml with one [[checkpoint]] per row (values: str, dict of scalars)."""

    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\") + '"'
        return repr(v)

    lines = []
    for row in rows:
        lines.append("[[checkpoint]]")
        lines += [f"{k} = {value(v)}" for k, v in row.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def rgb_array(h: int = 12, w: int = 12, seed: int = 0) -> np.ndarray:
    """A smooth colour image (h, w, 3) uint8: gradients plus a little texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([yy, xx, 0.5 * (yy + xx)], axis=-1) * 0.8 + 0.1
    return np.clip((base + 0.05 * rng.standard_normal((h, w, 3))) * 255, 0, 255).astype(np.uint8)


def write_image(path: Path, array: np.ndarray, **save) -> Path:
    Image.fromarray(array).save(path, **save)
    return path


def bomb_png(path: Path, side: int = 100_000) -> Path:
    """A PNG whose header claims side x side pixels: Pillow refuses it on opening."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory) -> Path:
    """Tiny checkpoints for every task, and the tiny prior, saved once per session."""
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    with single_thread():
        for task in ("denoise", "inpaint", "deblur"):
            save_tiny(folder / f"tiny-{task}.safetensors", task)
        save_tiny(folder / "tiny-prior.safetensors", None)
        save_tiny_conditioned(folder / "tiny-denoise-sigma.safetensors")
        save_tiny_blur_conditioned(folder / "tiny-deblur-aware.safetensors")
        save_tiny_storage_aware(folder / "tiny-deblur-noise.safetensors")
    return folder


def save_tiny_blur_conditioned(path: Path) -> Path:
    """A tiny blur-conditioned deblurrer trained (nominally) for sigma_b 1 to 8."""
    prior = tiny_solver().proxes[0].flow
    solver = UnrolledSolver.from_prior(prior, SolverConfig(folds=2, blur_conditioned=True)).eval()
    with torch.no_grad():
        solver.step_size_slope.fill_(0.5)
    save_model(path, solver, extra={"task": TaskSpec.default("deblur").to_dict(), "blur_range": [1.0, 8.0]})
    return path


def save_tiny_storage_aware(path: Path) -> Path:
    """A tiny noise-aware deblurrer from a ridge inverse, told the file's rounding as noise (sigma 0 to 0.02)."""
    from flowrestore.operators import STORAGE_SIGMA

    prior = tiny_solver().proxes[0].flow
    config = SolverConfig(folds=2, noise_conditioned=True, storage_noise=True, initial_guess="ridge",
                          reference_sigma=STORAGE_SIGMA["8bit"])
    solver = UnrolledSolver.from_prior(prior, config).eval()
    with torch.no_grad():
        solver.shrinkage_slope.fill_(0.5)
    save_model(path, solver, extra={"task": TaskSpec.default("deblur").to_dict(), "sigma_range": [0.002, 0.02]})
    return path


def save_tiny_conditioned(path: Path) -> Path:
    """A tiny noise-conditioned denoiser whose shrinkage grows with sigma; its folds run at sigma >= 0.02,
    the bottom of its range, as fine-tuning sets it."""
    prior = tiny_solver().proxes[0].flow
    solver = UnrolledSolver.from_prior(prior, SolverConfig(folds=2, noise_conditioned=True, sigma_floor=0.02)).eval()
    with torch.no_grad():
        solver.shrinkage_slope.fill_(1.0)
    save_model(path, solver, extra={"task": TaskSpec.default("denoise").to_dict(), "sigma_range": [0.02, 0.3]})
    return path
