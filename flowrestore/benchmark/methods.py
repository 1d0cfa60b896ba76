"""The method registry: a name -> how to build a restorer `x_hat = restorer(y, operator)`.

Learned rows load task checkpoints named `<prefix>-<task>` (glow-denoise, unet-inpaint, ...);
the MAP row loads the pre-trained prior `celeba-prior`. A method that cannot run here (its
checkpoint is not available, its optional library is missing, it does not apply to the task)
raises `Unavailable` with a one-line reason, which the harness records as a note.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import Tensor, nn

from flowrestore.benchmark.classical import CLASSICAL
from flowrestore.benchmark.map import LatentMAP, MapConfig
from flowrestore.checkpoints import check_kind
from flowrestore.errors import UsageError
from flowrestore.noise_level import estimate_sigma
from flowrestore.operators import LinearOperator, TaskSpec
from flowrestore.operators.censored import censored
from flowrestore.serialization import load_model
from flowrestore.solving import noise_conditioned, told_sigma
from flowrestore.tasks import TASKS

Restorer = Callable[[Tensor, LinearOperator], Tensor]
PRIOR_CHECKPOINT = "celeba-prior"
PIP_NAMES = {"skimage": "scikit-image"}  # module -> distribution, where they differ


class Unavailable(Exception):
    """This method cannot run in this benchmark; the message says why."""


@dataclass(frozen=True)
class Method:
    name: str
    label: str  # as the paper's tables name it
    kind: str  # "trivial" | "classical" | "map" | "learned"
    tasks: tuple[str, ...]
    checkpoint: str | None = None  # registry name; "{task}" is replaced by the task


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("measurement", "measurement y", "trivial", TASKS),
        # For denoising and inpainting A^T y = y, which the measurement row already shows.
        Method("adjoint", "adjoint A^T y", "trivial", ("deblur",)),
        Method("tv", "TV (Chambolle)", "classical", ("denoise",)),
        Method("nlm", "non-local means", "classical", ("denoise",)),
        Method("bm3d", "BM3D", "classical", ("denoise",)),
        Method("wiener", "Wiener-Hunt", "classical", ("deblur",)),
        Method("richardson-lucy", "Richardson-Lucy", "classical", ("deblur",)),
        Method("biharmonic", "biharmonic", "classical", ("inpaint",)),
        Method("glow-map", "GLOW MAP (Asim et al.)", "map", TASKS, PRIOR_CHECKPOINT),
        Method("resnet", "ResNet prox", "learned", TASKS, "resnet-{task}"),
        Method("resnet-pretrained", "ResNet prox, pre-trained as denoiser", "learned",
               ("inpaint", "deblur"), "resnet-pretrained-{task}"),
        Method("unet", "U-Net prox", "learned", TASKS, "unet-{task}"),
        Method("unet-pretrained", "U-Net prox, pre-trained as denoiser", "learned",
               ("inpaint", "deblur"), "unet-pretrained-{task}"),
        Method("pnp", "GLOW prox, plug-and-play", "learned", TASKS, "pnp-{task}"),
        Method("glow", "GLOW prox (proposed)", "learned", TASKS, "glow-{task}"),
        # The same checkpoint; a noise-conditioned one is told sigma (above) or estimates it here.
        Method("glow-est", "GLOW prox, sigma estimated", "learned", ("denoise",), "glow-{task}"),
        # The registry's second denoiser, trained across sigma 0.02-0.30 (issue: noise-aware restoration).
        Method("glow-aware", "GLOW prox, noise-aware", "learned", ("denoise",), "glow-{task}-aware"),
        Method("glow-aware-est", "GLOW prox, noise-aware, sigma estimated", "learned", ("denoise",),
               "glow-{task}-aware"),
        # A deblurrer trained across sigma_b 1-8, its fold parameters following the blur (issue: noise-aware).
        Method("glow-blur-aware", "GLOW prox, blur-aware", "learned", ("deblur",), "glow-{task}-aware"),
    ]
}
ESTIMATING = ("glow-est", "glow-aware-est")  # rows that estimate sigma from each image instead of being told


def method_for_checkpoint(checkpoint: str, task: str) -> str:
    """The benchmark row that restores with registry entry `checkpoint` told sigma, e.g. "glow" for
    glow-inpaint, "glow-aware" for glow-denoise-aware; UsageError if no row loads it."""
    for method in METHODS.values():
        if method.kind == "learned" and method.name not in ESTIMATING and task in method.tasks \
                and checkpoint_name(method.name, task) == checkpoint:
            return method.name
    raise UsageError(f"no benchmark row restores {task} with the checkpoint {checkpoint!r}")


def checkpoint_name(method: str, task: str) -> str | None:
    """The registry name a method loads for a task (None for methods without weights)."""
    template = METHODS[method].checkpoint
    return None if template is None else template.format(task=task)


def check_method(name: str) -> Method:
    if name not in METHODS:
        raise UsageError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name]


def measurement(y: Tensor, operator: LinearOperator) -> Tensor:
    return y


def adjoint(y: Tensor, operator: LinearOperator) -> Tensor:
    return operator.back_project(y)


def _no_grad(model: nn.Module, sigma: float | None = None, estimate: bool = False, clipped: bool = False) -> Restorer:
    """A restorer calling `model`; a noise-conditioned one gets `sigma`, or estimates it per image.
    With `clipped` (8-bit measurements), pixels at 0 or 1 are censored at that level, as `restore`
    does for files (flowrestore.operators.censored)."""
    conditioned = noise_conditioned(model)

    def restore(y: Tensor, operator: LinearOperator) -> Tensor:
        with torch.no_grad():
            level = estimate_sigma(y.cpu()).clamp_min(1e-3).to(y.device) if estimate else sigma
            if clipped:
                operator = censored(operator, level)
            return model(y, operator, sigma=level) if conditioned else model(y, operator)

    return restore


def _load(name: str, checkpoints: Mapping[str, Path], kind: str, device: str, cache: dict):
    if name not in checkpoints:
        raise Unavailable(f"checkpoint {name} is not available")
    if name not in cache:
        cache[name] = load_model(checkpoints[name], device=device)
    ckpt = cache[name]
    check_kind(f"{name} ({checkpoints[name]})", ckpt.kind, kind)
    ckpt.model.eval()
    return ckpt


def build(
    name: str,
    setting: TaskSpec,
    trained: TaskSpec,
    checkpoints: Mapping[str, Path],
    device: str = "cpu",
    map_config: MapConfig = MapConfig(),
    cache: dict | None = None,
    clipped: bool = False,
) -> tuple[Restorer, dict]:
    """A restorer for `setting` and what it was built from (parameters, checkpoint task).

    `trained` is the setting the learned models were trained at (Table I); a checkpoint whose
    metadata names another task is an error, one trained at other parameters only a note.
    `cache` keeps loaded checkpoints by name across calls; `clipped` says the measurements are
    8-bit files' (learned rows then censor their clipped pixels).
    """
    cache = {} if cache is None else cache
    method = check_method(name)
    if setting.task not in method.tasks:
        raise Unavailable(f"{name} does not apply to {setting.task}")
    if method.kind == "trivial":
        return (measurement if name == "measurement" else adjoint), {}
    if method.kind == "classical":
        classical = CLASSICAL[name]
        if importlib.util.find_spec(classical.requires) is None:
            package = PIP_NAMES.get(classical.requires, classical.requires)
            raise Unavailable(f"{name} needs the optional package {package} (pip install {package})")
        return classical.build(setting.noise_sigma), dict(classical.parameters)
    ckpt_name = checkpoint_name(name, setting.task)
    if method.kind == "map":
        prior = _load(ckpt_name, checkpoints, "glow", device, cache).model
        prior.requires_grad_(False)
        restorer = LatentMAP(prior, map_config, setting.noise_sigma)
        return restorer, {"map": map_config.to_dict(), "gamma": restorer.gamma,
                          "size_multiple": prior.config.size_multiple}
    ckpt = _load(ckpt_name, checkpoints, "solver", device, cache)
    info = {"checkpoint_task": ckpt.metadata.get("task"), "size_multiple": ckpt.model.size_multiple}
    task = ckpt.metadata.get("task")
    if task:
        spec = TaskSpec.from_dict(task)
        if spec.task != setting.task:
            raise UsageError(f"checkpoint {ckpt_name} was trained for {spec.task}, not {setting.task}")
        if spec != trained:
            info["note"] = f"{ckpt_name} was trained at {spec.label()}, not {trained.label()}"
    if name in ESTIMATING and not noise_conditioned(ckpt.model):
        raise Unavailable(f"{ckpt_name} is not noise-conditioned, so it has no use for an estimated sigma")
    sigma = told_sigma(ckpt.model, setting.noise_sigma, eight_bit=clipped)
    return _no_grad(ckpt.model, sigma, estimate=name in ESTIMATING, clipped=clipped), info
