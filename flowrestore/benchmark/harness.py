"""The benchmark loop: for every setting, measure each batch once, run every method on it, score.

Every method sees the same measurement: noise is seeded per image (by name), so two runs give
identical numbers. Times are wall-clock seconds per image on the chosen device, the batch's
time divided by its size; learned models get one untimed warm-up call first.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import Tensor

from flowrestore.benchmark import datasets, metrics
from flowrestore.benchmark.experiments import Experiment, Setting, experiment_for, narrow
from flowrestore.benchmark.map import MapConfig
from flowrestore.benchmark.methods import METHODS, Restorer, Unavailable, build, checkpoint_name
from flowrestore.checkpoints import NOT_REGISTERED
from flowrestore.devices import pick_device
from flowrestore.errors import UsageError
from flowrestore.operators import measure_each, quantize_8bit


@dataclass(frozen=True)
class BenchmarkConfig:
    experiment: str | None = None  # None: table4 on the anime set, table1 otherwise
    dataset: str = "celeba"  # "celeba", "anime" or an image folder
    tasks: tuple[str, ...] = ()  # empty: every task of the experiment
    methods: tuple[str, ...] = ()  # empty: the experiment's rows
    limit: int | None = None
    size: int | None = None  # centre-crop and resize images to size x size
    device: str = "cpu"
    batch_size: int = 16
    examples: int = 6  # images shown in each figure
    map: MapConfig = field(default_factory=MapConfig)
    eight_bit: bool = False  # measurements as users' files hold them: clipped to [0, 1], 8-bit

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.examples < 0:
            raise UsageError(f"--examples must be 0 or more, got {self.examples}")
        if self.size is not None and self.size < 8:
            raise UsageError(f"--size must be at least 8 (the classical methods' 8x8 blocks), got {self.size}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["map"] = self.map.to_dict()
        return d


@dataclass(frozen=True)
class ImageResult:
    setting: str
    task: str
    method: str
    image: str
    seed: int
    psnr: float
    ssim: float
    seconds: float


@dataclass
class Examples:
    """The first few images of a setting: truth, measurement and each method's estimate (CPU)."""

    names: list[str]
    truth: Tensor
    measurement: Tensor
    estimates: dict[str, Tensor] = field(default_factory=dict)

    def extend(self, measurement: Tensor, estimates: dict[str, Tensor]) -> None:
        """Append rows from one batch (the same rows of every tensor)."""
        self.measurement = torch.cat([self.measurement, measurement.detach().cpu()])
        for method, x_hat in estimates.items():
            previous = self.estimates.get(method, x_hat[:0].detach().cpu())
            self.estimates[method] = torch.cat([previous, x_hat.detach().cpu()])


@dataclass
class BenchmarkResult:
    config: BenchmarkConfig
    experiment: Experiment
    images: datasets.ImageSet
    records: list[ImageResult]
    examples: dict[str, Examples]  # by setting label
    built: dict[str, dict]  # "setting / method" -> what the method was built from
    checkpoints: dict[str, Path]  # the ones loaded
    notes: list[str]
    skipped: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (method, reason) -> settings


@dataclass(frozen=True)
class Progress:
    setting: str
    done: int  # images finished in this setting
    total: int


def required_checkpoints(experiment: Experiment) -> list[str]:
    """Every registry name the experiment's methods would load."""
    names = []
    for setting in experiment.settings:
        for method in experiment.methods:
            name = checkpoint_name(method, setting.task) if setting.task in METHODS[method].tasks else None
            if name and name not in names:
                names.append(name)
    return names


def plan(config: BenchmarkConfig) -> Experiment:
    """The experiment narrowed to the configuration's tasks and methods."""
    return narrow(experiment_for(config.experiment, config.dataset), list(config.tasks), list(config.methods))


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _timed(restorer: Restorer, y: Tensor, operator, device: str) -> tuple[Tensor, float]:
    _sync(device)
    start = time.perf_counter()
    x_hat = restorer(y, operator)
    _sync(device)
    return x_hat, time.perf_counter() - start


def _check_fits(method: str, multiple: int, size: tuple[int, int]) -> None:
    """Learned models need image sides that are multiples of 2**levels; the benchmark does not pad
    (padding would change the measurement operator it scores)."""
    height, width = size
    if height % multiple or width % multiple:
        fit = max(multiple, min(height, width) // multiple * multiple)
        raise UsageError(f"the images are {width}x{height}, but {method} needs sides that are multiples of "
                         f"{multiple}; pass --size {fit} (a square of that side)")


# Why a method was skipped when the registry does not list its checkpoints: the comparison models are
# not shipped (one note for all of them, not one per method and task).
UNREGISTERED = "its checkpoints are not in the registry"


def _skipped_notes(skipped: dict[tuple[str, str], list[str]]) -> list[str]:
    notes = [f"skipped {method} ({'; '.join(where)}): {why}" for (method, why), where in skipped.items()
             if why != UNREGISTERED]
    unregistered = {method: where for (method, why), where in skipped.items() if why == UNREGISTERED}
    if unregistered:
        settings = list(dict.fromkeys(label for where in unregistered.values() for label in where))
        names = ", ".join(f"{method}-<task>" for method in unregistered)
        their = "their" if len(unregistered) > 1 else "its"
        notes.append(f"skipped {', '.join(unregistered)} ({'; '.join(settings)}): {their} checkpoints ({names}) are "
                     "not in the registry (the bundled one lists the shipped GLOW models only); "
                     "scripts/train_baselines.py trains the comparison models, and --checkpoint-dir DIR runs them "
                     "(docs/benchmark.md)")
    return notes


def _build_all(setting: Setting, experiment: Experiment, config: BenchmarkConfig, checkpoints, unavailable,
               cache: dict, notes: list[str], skipped: dict, built: dict,
               size: tuple[int, int]) -> dict[str, Restorer]:
    restorers: dict[str, Restorer] = {}
    for method in experiment.methods:
        if setting.task not in METHODS[method].tasks:
            continue
        try:
            restorer, info = build(method, setting.spec, setting.trained, checkpoints, config.device, config.map, cache,
                                   clipped=config.eight_bit)
        except Unavailable as e:
            reason = unavailable.get(checkpoint_name(method, setting.task) or "", "")
            why = UNREGISTERED if reason == NOT_REGISTERED else str(e) + (f" ({reason})" if reason else "")
            skipped.setdefault((method, why), []).append(setting.label())
            continue
        _check_fits(method, info.pop("size_multiple", 1), size)
        restorers[method] = restorer
        built[f"{setting.label()} / {method}"] = info
        if "note" in info:
            notes.append(f"{setting.label()}: {info['note']}")
    return restorers


def run_setting(
    setting: Setting,
    restorers: Mapping[str, Restorer],
    images: datasets.ImageSet,
    config: BenchmarkConfig,
    progress: Callable[[Progress], None] | None = None,
) -> tuple[list[ImageResult], Examples]:
    """Score every restorer on every image of `images` at one setting."""
    _, _, h, w = images.images.shape
    op = setting.operator(h, w).to(config.device)
    seeds = images.seeds
    records: list[ImageResult] = []
    n_ex = min(config.examples, len(images))
    examples = Examples(list(images.names[:n_ex]), images.images[:n_ex].clone(), images.images[:0].clone())
    for start in range(0, len(images), config.batch_size):
        stop = min(start + config.batch_size, len(images))
        keep = max(0, n_ex - start)  # rows of this batch shown in the figure
        x = images.images[start:stop].to(config.device)
        y = measure_each(x, op, setting.spec.noise_sigma, seeds[start:stop])
        if config.eight_bit:
            y = quantize_8bit(y)
        shown: dict[str, Tensor] = {}
        for method, restorer in restorers.items():
            if start == 0 and METHODS[method].kind == "learned":
                restorer(y[:1], op)  # warm-up, untimed
            x_hat, seconds = _timed(restorer, y, op, config.device)
            shown[method] = x_hat[:keep]
            for i, (p, s) in enumerate(metrics.score(x_hat, x)):
                k = start + i
                records.append(
                    ImageResult(setting.label(), setting.task, method, images.names[k], seeds[k], p, s,
                                seconds / (stop - start))
                )
        if keep:
            examples.extend(y[:keep], shown)
        if progress is not None:
            progress(Progress(setting.label(), stop, len(images)))
    order = {m: i for i, m in enumerate(restorers)}
    records.sort(key=lambda r: order[r.method])  # method-major whatever the batch size (the sort is stable)
    return records, examples


def run_benchmark(
    config: BenchmarkConfig,
    checkpoints: Mapping[str, Path] | None = None,
    unavailable: Mapping[str, str] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> BenchmarkResult:
    """Run the configured experiment.

    `checkpoints` maps registry names (see `required_checkpoints`) to files; a method whose
    checkpoint is absent is skipped with a note, giving the reason from `unavailable` if any.
    """
    if importlib.util.find_spec("skimage") is None:
        raise UsageError("the benchmark needs scikit-image (SSIM, classical rows): pip install 'flowrestore[baselines]'")
    config = replace(config, device=str(pick_device(config.device)))
    experiment = plan(config)
    images = datasets.load_images(config.dataset, config.limit, config.size)
    checkpoints = dict(checkpoints or {})
    notes: list[str] = []
    if torch.device(config.device).type == "cpu" and not config.methods and "glow-map" in experiment.methods:
        # 20 L-BFGS steps through the flow take 27-37 s per image on a 2-core CPU: opt-in there.
        experiment = replace(experiment, methods=tuple(m for m in experiment.methods if m != "glow-map"))
        notes.append("skipped glow-map on the CPU (about 30 s per image); name it with --method glow-map to run it")
    for method in experiment.methods:
        if not any(s.task in METHODS[method].tasks for s in experiment.settings):
            notes.append(f"skipped {method}: it applies to {', '.join(METHODS[method].tasks)} only")
    records: list[ImageResult] = []
    examples: dict[str, Examples] = {}
    built: dict[str, dict] = {}
    cache: dict = {}  # loaded checkpoints, by registry name
    skipped: dict[tuple[str, str], list[str]] = {}  # (method, reason) -> settings
    for setting in experiment.settings:
        restorers = _build_all(setting, experiment, config, checkpoints, dict(unavailable or {}), cache, notes,
                               skipped, built, tuple(images.images.shape[-2:]))
        recs, ex = run_setting(setting, restorers, images, config, progress)
        records += recs
        examples[setting.label()] = ex
    notes += _skipped_notes(skipped)
    return BenchmarkResult(
        config=config,
        experiment=experiment,
        images=images,
        records=records,
        examples=examples,
        built=built,
        checkpoints={n: Path(checkpoints[n]) for n in sorted(cache)},
        notes=notes,
        skipped=skipped,
    )
