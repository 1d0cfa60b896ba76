"""Continue and ship: train each shipped model further, keep it only if validation improves.

For every model, in rounds: train a slice of the budget (resuming its own run, at a learning rate
that halves after each round that ships nothing: flowrestore.shipping.schedule), score the
run's best checkpoint in the shipped format (flowrestore.shipping.storage) on the validation
folder with the benchmark's protocol, and compare it with the shipped file scored the same way. A better candidate is shipped in one
transaction: its weights, both registry copies (sha256 and metrics, with test-set and anime
numbers for the record) and the README's results table. The test set only reports.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from flowrestore.checkpoints import Entry, load_registry, sha256_of
from flowrestore.serialization import load_model, read_metadata
from flowrestore.shipping import readme, registry_file, reports, schedule, tree_size
from flowrestore.shipping.continuation import Slice, continue_model, record_shipped
from flowrestore.shipping.scores import Score, prior_score, solver_score
from flowrestore.shipping.storage import save_shipped
from flowrestore.shipping.transaction import recover, replace_files

MODELS = ("glow-denoise", "glow-denoise-aware", "glow-inpaint", "glow-deblur", "celeba-prior")
# What trained the files shipped before the pipeline recorded compute in them (docs/training.md).
LEGACY_COMPUTE = {
    "celeba-prior": [{"device": "NVIDIA H200", "seconds": 120}],
    "glow-denoise": [{"device": "NVIDIA H200", "seconds": 49}, {"device": "cpu", "seconds": 5760}],
    "glow-inpaint": [{"device": "NVIDIA H200", "seconds": 50}, {"device": "cpu", "seconds": 4200}],
    "glow-deblur": [{"device": "NVIDIA H200", "seconds": 55}, {"device": "cpu", "seconds": 5760}],
}
Event = Callable[[dict], None]


@dataclass(frozen=True)
class ShipConfig:
    root: Path  # the repository: flowrestore/ (package, weights, registry), checkpoints.toml, README.md
    data: Path  # a folder with train/ and val/ (celeba64)
    state_root: Path  # run folders and the score cache; keep it outside the repository
    budget: float  # seconds of training in all, over every model and round
    device: str = "cpu"
    models: tuple[str, ...] = MODELS
    shares: dict[str, float] = field(default_factory=dict)  # fraction of the budget per model (default equal)
    rounds: int = 1
    val_limit: int | None = None  # None: the whole validation folder
    margin: float = 0.0  # a candidate must beat the shipped file by more than this (dB or bits/dim)
    dry_run: bool = False  # score and decide, but ship nothing
    cuda_graph: bool = True  # on CUDA, train with the step recorded as a graph (False: eagerly)
    reports: bool = True  # rewrite docs/results' Table I and IV reports when they no longer measure the shipped files
    report_limit: int | None = None  # images per report (None: the whole sets; tests use a few)
    report_sets: tuple[str, str] = ("celeba", "anime")  # test sets scored for the record (never for decisions)
    size_budget: int = tree_size.SIZE_BUDGET  # bytes of tracked files a shipment may not take the repository past

    def seconds_for(self, name: str) -> float:
        share = self.shares.get(name, 1.0 / len(self.models))
        return self.budget * share / self.rounds

    @property
    def registries(self) -> list[Path]:
        return [self.root / "flowrestore" / "checkpoints.toml", self.root / "checkpoints.toml"]


class ScoreCache:
    """Scores by (file sha256, what was measured), kept in state_root so reruns skip them."""

    def __init__(self, path: Path):
        self.path = path
        self.values = json.loads(path.read_text()) if path.exists() else {}

    def get(self, key: str, compute: Callable[[], Score]) -> Score:
        if key not in self.values:
            self.values[key] = compute().__dict__
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.values, indent=1))
        return Score(**self.values[key])


def _score(entry: Entry, path: Path, dataset: str, config: ShipConfig, cache: ScoreCache,
           limit: int | None, sweep: bool = False, eight_bit: bool = False) -> Score:
    key = f"{sha256_of(path)}|{dataset}|{limit}" + ("|sweep" if sweep else "") + ("|8bit" if eight_bit else "")
    if entry.kind == "glow":
        return cache.get(key, lambda: prior_score(path, dataset, config.device, limit))
    return cache.get(key, lambda: solver_score(path, entry.name, entry.task_name, dataset, config.device, limit,
                                               sweep=sweep, eight_bit=eight_bit))


# A model told whether its measurement is exact or an 8-bit file (docs/method.md, noise-aware deblurring)
# ships on a better Table I validation score only if 8-bit files do not lose more than this (dB) with it.
FILES_TOLERANCE = 0.02


def _serves_files_apart(path: Path) -> bool:
    return bool(read_metadata(path).get("config", {}).get("storage_noise", False))


# The metadata key a conditioned model of each task records its training range under.
CONDITIONED_RANGE = {"denoise": "sigma_range", "deblur": "blur_range"}


def _sweep_protocol(entry: Entry, candidate: Path) -> bool:
    """A conditioned model is judged over its task's sweep, not at one setting: a noise-conditioned
    denoiser over the noise levels, a blur-conditioned deblurrer over sigma_b."""
    return CONDITIONED_RANGE.get(entry.task_name) in read_metadata(candidate)


def compute_of(name: str, path: Path) -> list[dict]:
    return read_metadata(path).get("compute", LEGACY_COMPUTE.get(name, []))


def _device_label(device: str) -> str:
    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"


def _export(slice_: Slice, out: Path, probe: Path) -> None:
    """The run's best checkpoint in the shipped format with a compute ledger: the start file's plus this run's."""
    lineage = json.loads((slice_.run_dir / "lineage.json").read_text())
    export_shipped(slice_.best_path, out, lineage.get("base_compute", []) + [
        {"device": s["device"], "seconds": s["seconds"]} for s in lineage.get("slices", [])
    ], probe=probe)


def export_shipped(source: Path, out: Path, compute: list[dict] | None = None, note: str | None = None,
                   probe: Path | None = None) -> str:
    """`source` in the shipped format, its metadata, and the compute ledger `compute` (None: the one
    it records); `note` is kept as its history_note. int8 kernels, or fp16 for a task model whose
    restorations of the faces in `probe` int8 would change (flowrestore.shipping.storage); returns
    which."""
    ckpt = load_model(source)
    extra = {k: v for k, v in ckpt.metadata.items() if k not in ("kind", "config", "format", "storage")}
    if compute is not None:
        extra["compute"] = compute
    if note:
        extra["history_note"] = note
    return save_shipped(out, ckpt, extra, probe)


def _note_slice(slice_: Slice, shipped: Path) -> None:
    path = slice_.run_dir / "lineage.json"
    lineage = json.loads(path.read_text())
    lineage.setdefault("base_compute", compute_of(slice_.name, shipped))
    lineage.setdefault("slices", []).append({"device": _device_label(slice_.device), "seconds": round(slice_.seconds, 1),
                                             "until_step": slice_.steps, "lr": slice_.lr})
    path.write_text(json.dumps(lineage, indent=1))


def _metrics(entry: Entry, candidate: Path, val: Score, config: ShipConfig, cache: ScoreCache) -> dict:
    compute = read_metadata(candidate).get("compute", [])
    test_set, anime_set = config.report_sets
    test = _score(entry, candidate, test_set, config, cache, None)
    if entry.kind == "glow":
        return {"test_bpd": round(test.value, 4), "val_bpd": round(val.value, 4),
                "dataset": "celeba64/test (489)", "compute": compute}
    anime = _score(entry, candidate, anime_set, config, cache, None)
    return {
        "psnr": round(test.value, 3), "ssim": round(test.ssim, 4), "psnr_ci95": round(test.ci95, 3),
        "val_psnr": round(val.value, 3), "anime_psnr": round(anime.value, 3), "dataset": "bundled celeba (489)",
        "command": "flowrestore benchmark --dataset celeba --method glow", "compute": compute,
    }


def _bundled(config: ShipConfig, entry: Entry) -> Path:
    """The entry's bundled weight file in the repository."""
    return config.root / "flowrestore" / entry.file


class Superseded(Exception):
    """The bundled file changed (another pipeline shipped) after the candidate was compared with it."""


def ship(entry: Entry, candidate: Path, metrics: dict, config: ShipConfig, replaces: str | None = None) -> str:
    """Put `candidate` in place of the entry's bundled file and update both registries and the
    README, all in one transaction; returns the new sha256. `replaces`: the sha256 of the bundled
    file the candidate beat; if the file in place is another by then, nothing is written and
    Superseded is raised, so that the candidate is compared again with what is shipped now."""
    data = candidate.read_bytes()
    sha = sha256_of(candidate)
    with _locked(config.root):  # two pipelines may share a repository
        shipped = _bundled(config, entry)
        if replaces is not None and (not shipped.exists() or sha256_of(shipped) != replaces):
            raise Superseded(entry.name)
        return _ship_locked(entry, candidate, data, sha, metrics, config)


@contextlib.contextmanager
def _locked(root: Path):
    with open(root / ".shipping.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ship_locked(entry: Entry, candidate: Path, data: bytes, sha: str, metrics: dict, config: ShipConfig) -> str:
    head, rows = registry_file.read(config.registries[0])
    task = {"task": entry.task} if entry.task else {}
    if entry.kind == "solver":
        from flowrestore.operators import TaskSpec

        meta = read_metadata(candidate)
        task = {"task": TaskSpec.from_dict(meta["task"]).to_dict()}
        for key in CONDITIONED_RANGE.values():  # what a conditioned model was trained across
            if key in meta:
                task[key] = list(meta[key])
    rows = registry_file.update_row(rows, entry.name, sha256=sha, metrics=metrics, **task)
    text = registry_file.render(head, rows).encode()
    readme_path = config.root / "README.md"
    contents = {_bundled(config, entry): data, **{p: text for p in config.registries}}
    if readme_path.exists():
        contents[readme_path] = readme.replace_block(readme_path.read_text(encoding="utf-8"), rows).encode()
    replace_files(config.root, contents)
    return sha


def consider(entry: Entry, slice_: Slice, config: ShipConfig, cache: ScoreCache, emit: Event) -> dict:
    """Score the slice's best checkpoint against the shipped file and ship it if better."""
    if slice_.best_path is None:
        return {"event": "kept", "name": entry.name, "why": "the run has no checkpoint yet"}
    candidate = slice_.run_dir / "candidate.safetensors"
    _export(slice_, candidate, config.data / "val")
    return decide(entry, candidate, slice_.run_dir, config, cache, emit)


def decide(entry: Entry, candidate: Path, run_dir: Path | None, config: ShipConfig, cache: ScoreCache,
           emit: Event) -> dict:
    """Score `candidate` (a file in the shipped format) against the shipped file on validation; ship it if better."""
    shipped = _bundled(config, entry)
    size = tree_size.after_replacing(config.root, shipped, candidate)
    if size > config.size_budget:
        return {"event": "kept", "name": entry.name, "why": f"shipping it would take the tracked files to "
                f"{size / 1e6:.1f} MB, over the {config.size_budget / 1e6:.0f} MB budget"}
    sweep = _sweep_protocol(entry, candidate)
    replaces = sha256_of(shipped)
    before = _score(entry, shipped, str(config.data / "val"), config, cache, config.val_limit, sweep)
    after = _score(entry, candidate, str(config.data / "val"), config, cache, config.val_limit, sweep)
    decision = _decision(entry, before, after, sweep)
    if not after.better_than(before, config.margin):
        return {"event": "kept", **decision}
    if _serves_files_apart(candidate):
        files = [_score(entry, path, str(config.data / "val"), config, cache, config.val_limit, eight_bit=True)
                 for path in (shipped, candidate)]
        decision.update(shipped_8bit=round(files[0].value, 4), candidate_8bit=round(files[1].value, 4))
        if files[1].value < files[0].value - FILES_TOLERANCE:
            return {"event": "kept", "why": "8-bit files restore worse", **decision}
    if config.dry_run:
        return {"event": "would ship", **decision}
    emit({"event": "scoring", "name": entry.name, "on": "test and anime sets (report only)"})
    try:
        return {**decision, **_ship_scored(entry, candidate, after, sweep, run_dir, config, cache, replaces)}
    except Superseded:  # another pipeline shipped this model meanwhile: compare with its file instead
        emit({"event": "superseded", "name": entry.name, "was": replaces})
        return decide(entry, candidate, run_dir, config, cache, emit)


def _decision(entry: Entry, before: Score | None, after: Score, sweep: bool) -> dict:
    """What a shipping decision reports: the shipped file's and the candidate's validation scores."""
    return {"name": entry.name, "metric": after.metric + (" (sweep mean)" if sweep else ""),
            "shipped": None if before is None else round(before.value, 4), "candidate": round(after.value, 4),
            "images": after.images}


def _ship_scored(entry: Entry, candidate: Path, val: Score, sweep: bool, run_dir: Path | None, config: ShipConfig,
                 cache: ScoreCache, replaces: str | None = None) -> dict:
    metrics = _metrics(entry, candidate, val, config, cache)
    if _serves_files_apart(candidate):  # its Table I (float) numbers, and what 8-bit files get
        metrics["val_psnr_8bit"] = round(_score(entry, candidate, str(config.data / "val"), config, cache,
                                                config.val_limit, eight_bit=True).value, 3)
        metrics["psnr_8bit"] = round(_score(entry, candidate, config.report_sets[0], config, cache, None,
                                            eight_bit=True).value, 3)
    if sweep:
        metrics["val_sweep_psnr"] = metrics.pop("val_psnr")
        metrics["val_psnr"] = round(_score(entry, candidate, str(config.data / "val"), config, cache,
                                           config.val_limit).value, 3)
    sha = ship(entry, candidate, metrics, config, replaces)
    if run_dir is not None:
        record_shipped(run_dir, sha)
    refresh_reports(config)
    return {"event": "shipped", "sha256": sha, "test": metrics.get("psnr", metrics.get("test_bpd"))}


def reship(entry: Entry, source: Path, config: ShipConfig, cache: ScoreCache, run_dir: Path | None = None) -> dict:
    """Ship `source` under `entry` whatever it scores, in the shipped format with fresh metrics: for a
    change of storage format, or a new registry entry (whose file may not exist yet). Its validation
    score is reported beside the file it replaces, if any. `run_dir`: a pipeline run that may
    continue from the new file."""
    candidate = config.state_root / f"{entry.name}-reship.safetensors"
    export_shipped(source, candidate, compute_of(entry.name, source), probe=config.data / "val")
    sweep = _sweep_protocol(entry, candidate)
    val = str(config.data / "val")
    after = _score(entry, candidate, val, config, cache, config.val_limit, sweep)
    shipped = _bundled(config, entry)
    before = _score(entry, shipped, val, config, cache, config.val_limit, sweep) if shipped.exists() else None
    decision = _decision(entry, before, after, sweep)
    if config.dry_run:
        return {"event": "would ship", **decision}
    return {**decision, **_ship_scored(entry, candidate, after, sweep, run_dir, config, cache)}


def refresh_reports(config: ShipConfig) -> list[Path]:
    """Rewrite the docs/results reports that no longer measure the shipped files (flowrestore.shipping.reports)."""
    if not config.reports or config.dry_run:
        return []
    with _locked(config.root):  # one pipeline measures, the others then find the reports fresh
        return reports.refresh(config.root, config.device, limit=config.report_limit)


def run(config: ShipConfig, emit: Event = lambda e: None) -> list[dict]:
    """Train, score and ship, round after round; returns the decisions."""
    with _locked(config.root):
        note = recover(config.root)
    if note:
        emit({"event": "recovered", "note": note})
    written = refresh_reports(config)  # e.g. after a refresh that was interrupted
    if written:
        emit({"event": "reports", "written": [str(p) for p in written]})
    cache = ScoreCache(config.state_root / "scores.json")
    decisions = []
    for round_ in range(config.rounds):
        for name in config.models:
            entries = load_registry(config.registries[0])  # re-read: a shipment changes sha256s
            entry = entries[name]
            prior = config.root / "flowrestore" / entries["celeba-prior"].file
            shipped = _bundled(config, entry)
            seconds = config.seconds_for(name)
            emit({"event": "training", "name": name, "round": round_ + 1, "seconds": seconds})
            started = time.monotonic()
            slice_ = continue_model(entry, shipped, prior, config.data, config.state_root, seconds, config.device,
                                    cuda_graph=config.cuda_graph)
            _note_slice(slice_, shipped)
            decision = consider(entry, slice_, config, cache, emit)
            decision["lr"] = slice_.lr
            if not config.dry_run:
                decision["next_lr_scale"] = schedule.after_round(config.state_root, name, decision)
            decision["wall_seconds"] = round(time.monotonic() - started, 1)
            decisions.append(decision)
            emit(decision)
    return decisions
