"""The experiment grid, named after the paper's tables: settings x methods.

A setting is the measurement at test time (`spec`) and the Table I setting the learned models
were trained at (`trained`); they differ only in Table III and the denoising sweep, which test
the Table I models on measurements they were not trained for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from flowrestore.benchmark.methods import check_method
from flowrestore.errors import UsageError
from flowrestore.operators import LastFoldOperator, LinearOperator, TaskSpec

CLASSICAL_ROWS = ("tv", "nlm", "bm3d", "wiener", "richardson-lucy", "biharmonic")
LEARNED_ROWS = ("resnet", "resnet-pretrained", "unet", "unet-pretrained", "glow")


@dataclass(frozen=True)
class Setting:
    spec: TaskSpec  # the measurement the methods see
    trained: TaskSpec  # the setting the learned models were trained at
    last_fold_only: bool = False  # unrolled solvers use `spec`'s A at the last fold only, `trained`'s before

    @property
    def task(self) -> str:
        return self.spec.task

    def operator(self, height: int, width: int) -> LinearOperator:
        """A for an H x W image; for `last_fold_only`, an operator that unrolled solvers see per fold."""
        measured = self.spec.operator(height, width)
        if not self.last_fold_only:
            return measured
        return LastFoldOperator(self.trained.operator(height, width), measured)

    def label(self) -> str:
        return self.spec.label()


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    dataset: str  # the bundled set it runs on unless told otherwise
    settings: tuple[Setting, ...]
    methods: tuple[str, ...]


def _table1(task: str) -> Setting:
    return Setting(TaskSpec.default(task), TaskSpec.default(task))


def _shifted(spec: TaskSpec) -> Setting:
    return Setting(spec, TaskSpec.default(spec.task))


TABLE1_SETTINGS = tuple(_table1(t) for t in ("denoise", "inpaint", "deblur"))
LOW_NOISE = (0.005, 0.01, 0.02, 0.03, 0.05)  # sigma of the denoise-low experiment
DEBLUR_SWEEP = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)  # sigma_b, 5x5 kernel; Table III's out-of-distribution blur is 8
EVERY_ROW = ("measurement", "adjoint", *CLASSICAL_ROWS, "glow-map", *LEARNED_ROWS)

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment("table1", "Table I: in-distribution (CelebA-HQ test)", "celeba", TABLE1_SETTINGS, EVERY_ROW),
        Experiment(
            "table2", "Table II: plug-and-play vs proposed", "celeba", TABLE1_SETTINGS, ("measurement", "pnp", "glow")
        ),
        Experiment(
            "table3",
            "Table III: out-of-distribution measurements (models trained at Table I settings)",
            "celeba",
            (
                _shifted(TaskSpec("denoise", noise_sigma=0.25)),
                # Section V-B: "the data consistency matrix A at the last fold blocking the center
                # 16 x 16 elements": y is measured with the 16x16 hole, folds 1..K-1 keep the 19x19
                # A they were trained with, and the last fold's data step sees the 16x16 one.
                replace(_shifted(TaskSpec("inpaint", box=16)), last_fold_only=True),
                _shifted(TaskSpec("deblur", blur_sigma=8.0)),
            ),
            ("measurement", "adjoint", *CLASSICAL_ROWS, "glow-map", "resnet", "unet", "glow"),
        ),
        Experiment(
            "table4",
            "Table IV: out-of-distribution images (anime faces, models trained on CelebA-HQ)",
            "anime",
            TABLE1_SETTINGS,
            ("measurement", "adjoint", *CLASSICAL_ROWS, "glow-map", "resnet", "unet", "glow"),
        ),
        Experiment(
            "denoise-sweep",
            "Denoising at sigma 0.05-0.30: the sigma = 0.2 models and the noise-aware one (conference version: 0.10-0.25)",
            "celeba",
            tuple(_shifted(TaskSpec("denoise", noise_sigma=s)) for s in (0.05, 0.10, 0.15, 0.20, 0.25, 0.30)),
            ("measurement", "tv", "nlm", "bm3d", "glow-map", "resnet", "unet", "glow", "glow-est", "glow-aware",
             "glow-aware-est"),
        ),
        Experiment(
            "denoise-low",
            "Denoising at low noise, sigma 0.005-0.05 (what camera photos hold): beside, below and at the bottom of "
            "the noise-aware model's range (not in the paper)",
            "celeba",
            tuple(_shifted(TaskSpec("denoise", noise_sigma=s)) for s in LOW_NOISE),
            ("measurement", "tv", "nlm", "bm3d", "glow", "glow-aware", "glow-aware-est"),
        ),
        Experiment(
            "deblur-sweep",
            "Deblurring at sigma_b 1-8 (the paper's 5x5 zero-padded blur): the sigma_b = 5 models and the blur-aware one",
            "celeba",
            tuple(_shifted(TaskSpec("deblur", blur_sigma=s)) for s in DEBLUR_SWEEP),
            ("measurement", "adjoint", "wiener", "richardson-lucy", "resnet", "unet", "glow", "glow-blur-aware"),
        ),
    ]
}
SWEEPS = {"denoise": "denoise-sweep", "deblur": "deblur-sweep"}  # per task, the sweep that judges a conditioned model


def experiment_for(name: str | None, dataset: str) -> Experiment:
    """The named experiment; without a name, Table IV's for the anime set and Table I's otherwise."""
    if name is None:
        name = "table4" if dataset == "anime" else "table1"
    if name not in EXPERIMENTS:
        raise UsageError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def narrow(experiment: Experiment, tasks: list[str] | None = None, methods: list[str] | None = None) -> Experiment:
    """Keep only the given tasks and methods; named methods need not be among the defaults."""
    settings = experiment.settings
    if tasks:
        for t in tasks:
            TaskSpec(t)  # raises on an unknown task
        settings = tuple(s for s in settings if s.task in tasks)
        if not settings:
            raise UsageError(f"experiment {experiment.name} has no {' or '.join(tasks)} setting")
    rows = experiment.methods
    if methods:
        rows = tuple(dict.fromkeys(check_method(m).name for m in methods))
    return replace(experiment, settings=settings, methods=rows)
