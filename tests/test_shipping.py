"""Continue-and-ship: the registry written from values, all-or-nothing file replacement, and the
pipeline shipping a candidate only when validation improves (tiny models, a few seconds)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from cli_fixtures import save_tiny, sha256, single_thread
from helpers import write_images

from flowrestore.checkpoints import load_registry
from flowrestore.shipping import readme, registry_file, reports, schedule, transaction
from flowrestore.shipping.continuation import RECIPES
from flowrestore.shipping.pipeline import ShipConfig, run
from flowrestore.shipping.scores import Score

HEAD = "# a registry\n# with comments\n"


def test_registry_round_trip_keeps_header_values_and_order(tmp_path):
    rows = [
        {"name": "a", "kind": "glow", "architecture": 'x "quoted"', "file": "w/a.safetensors", "sha256": "ab",
         "metrics": {"test_bpd": 4.25, "compute": [{"device": "cpu", "seconds": 60.5}]}},
        {"name": "b", "kind": "solver", "task": {"task": "deblur", "blur_sigma": 5.0, "blur_kernel": 5},
         "hub": {"repo_id": "o/r", "filename": "b.safetensors", "revision": "abc"}, "sha256": ""},
    ]
    path = tmp_path / "checkpoints.toml"
    path.write_text(registry_file.render(HEAD, rows))
    head, back = registry_file.read(path)
    assert head == HEAD and back == rows
    changed = registry_file.update_row(back, "b", sha256="ff", metrics={"psnr": 30.5})
    assert changed[1]["sha256"] == "ff" and changed[1]["task"] == rows[1]["task"] and back[1]["sha256"] == ""
    with pytest.raises(KeyError):
        registry_file.update_row(back, "c", sha256="0")
    with pytest.raises(ValueError, match="finite"):
        registry_file.render(HEAD, [{"name": "a", "metrics": {"psnr": float("nan")}}])


def test_the_shipped_registry_renders_to_itself():
    """The writer reproduces the bundled registry's values exactly (and both copies are equal)."""
    package = Path(__file__).resolve().parents[1] / "flowrestore" / "checkpoints.toml"
    head, rows = registry_file.read(package)
    assert tomllib.loads(registry_file.render(head, rows)) == tomllib.loads(package.read_text())


def test_transaction_replaces_all_files_or_none(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a"), b.write_text("old b")
    transaction.replace_files(tmp_path, {a: b"new a", b: b"new b"})
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert not list(tmp_path.glob("*.staged")) and not (tmp_path / ".shipping-journal.json").exists()

    # interrupted after staging, before the commit point: recovery rolls back
    (tmp_path / "a.txt.staged").write_text("half")
    assert "discarded 1" in transaction.recover(tmp_path)
    assert a.read_text() == "new a" and not list(tmp_path.glob("*.staged"))

    # interrupted after the commit point, one file moved: recovery finishes the rest
    (tmp_path / "b.txt.staged").write_text("newer b")
    (tmp_path / ".shipping-journal.json").write_text(
        json.dumps([[str(tmp_path / "a.txt.staged"), str(a)], [str(tmp_path / "b.txt.staged"), str(b)]])
    )
    assert "finished" in transaction.recover(tmp_path)
    assert b.read_text() == "newer b" and a.read_text() == "new a"
    assert transaction.recover(tmp_path) is None


def test_readme_block_is_rendered_from_registry_rows():
    rows = [{"name": "glow-deblur", "kind": "solver", "task": {"task": "deblur"},
             "metrics": {"psnr": 30.0, "psnr_ci95": 0.2, "val_psnr": 30.1, "anime_psnr": 25.0,
                         "compute": [{"device": "cpu", "seconds": 7200}, {"device": "cpu", "seconds": 1800}]}}]
    text = f"intro\n{readme.BEGIN}\nold table\n{readme.END}\noutro\n"
    out = readme.replace_block(text, rows)
    assert "old table" not in out and out.startswith("intro\n") and out.endswith("outro\n")
    assert "**30.00 ± 0.20 dB**" in out and "40.55 dB" in out and "-10.55 dB" in out and "cpu 2.5 h" in out
    aware = readme.replace_block(text, [{**rows[0], "name": "glow-deblur-aware", "blur_range": [1.0, 8.0]}])
    assert "deblur σ_b = 5, 5×5 kernel (follows σ_b; trained on σ_b 1–8)" in aware
    files = readme.replace_block(text, [{**rows[0], "sigma_range": [0.002, 0.02],
                                         "metrics": {**rows[0]["metrics"], "psnr_8bit": 29.5, "val_psnr_8bit": 29.6}}])
    assert "**30.00 ± 0.20 dB** (29.50 dB)" in files and "30.10 dB (29.60 dB)" in files
    assert "8-bit files in brackets; trained noise-free and at noise σ 0.002–0.02" in files
    with pytest.raises(ValueError, match="markers"):
        readme.replace_block("no markers", rows)


def _repository(tmp_path: Path) -> Path:
    """A repository with the tiny prior and a tiny denoiser registered, and a README with markers."""
    root = tmp_path / "repo"
    weights = root / "flowrestore" / "weights"
    weights.mkdir(parents=True)
    prior, solver = save_tiny(weights / "prior.safetensors", None), save_tiny(weights / "denoise.safetensors")
    rows = [
        {"name": "celeba-prior", "kind": "glow", "architecture": "tiny", "file": "weights/prior.safetensors",
         "sha256": sha256(prior), "metrics": {}},
        {"name": "glow-denoise", "kind": "solver", "architecture": "tiny",
         "task": {"task": "denoise", "noise_sigma": 0.2, "box": 19, "blur_sigma": 5.0},
         "file": "weights/denoise.safetensors", "sha256": sha256(solver), "metrics": {"psnr": 1.0}},
    ]
    text = registry_file.render(HEAD, rows)
    (root / "flowrestore" / "checkpoints.toml").write_text(text)
    (root / "checkpoints.toml").write_text(text)
    (root / "README.md").write_text(f"# x\n{readme.BEGIN}\n{readme.END}\n")
    return root


@pytest.mark.parametrize("margin, shipped", [(-1e9, True), (1e9, False)])
def test_pipeline_ships_only_what_beats_the_shipped_file_on_validation(tmp_path, margin, shipped):
    root = _repository(tmp_path)
    data = tmp_path / "data"
    write_images(data / "train", 16), write_images(data / "val", 4, seed=1)
    before = {p.name: p.read_bytes() for p in (root / "flowrestore" / "weights").iterdir()}
    config = ShipConfig(root=root, data=data, state_root=tmp_path / "state", report_limit=2, budget=2.0, device="cpu",
                        models=("glow-denoise",), margin=margin, report_sets=(str(data / "val"), str(data / "val")))
    with single_thread():
        (decision,) = run(config)
    assert decision["event"] == ("shipped" if shipped else "kept"), decision
    entry = load_registry(root / "flowrestore" / "checkpoints.toml")["glow-denoise"]
    weights = root / "flowrestore" / "weights" / "denoise.safetensors"
    assert (root / "checkpoints.toml").read_text() == (root / "flowrestore" / "checkpoints.toml").read_text()
    assert entry.sha256 == sha256(weights)  # the registry always matches the file
    if shipped:
        assert weights.read_bytes() != before["denoise.safetensors"]
        assert entry.metrics["val_psnr"] == pytest.approx(decision["candidate"], abs=1e-3)
        assert entry.metrics["compute"] and entry.task["blur_kernel"] == 5  # the full TaskSpec is recorded
        assert "`glow-denoise`" in (root / "README.md").read_text()
        # docs/results' reports were measured again on the shipped file, by the benchmark
        assert reports.stale(root) == []
        table1 = (root / "docs" / "results" / "table1-celeba.md").read_text()
        assert reports.recorded(table1) == {"glow-denoise": entry.sha256} and "| GLOW prox (proposed) |" in table1
        # the next call resumes the same run (its lineage knows the shipped file)
        with single_thread():
            (again,) = run(config)
        lineage = json.loads((tmp_path / "state" / "glow-denoise" / "lineage.json").read_text())
        assert len(lineage["slices"]) == 2 and lineage["shipped"]
        assert decision["next_lr_scale"] == 1.0 and decision["lr"] == RECIPES[("cpu", "solver")].lr
    else:
        assert weights.read_bytes() == before["denoise.safetensors"]
        assert entry.metrics == {"psnr": 1.0}
        assert reports.stale(root) == []  # written when the run started: the repository had none
        # a round that ships nothing halves the rate; the next slice starts over from the shipped file
        assert decision["next_lr_scale"] == 0.5
        with single_thread():
            (again,) = run(config)
        lineage = json.loads((tmp_path / "state" / "glow-denoise" / "lineage.json").read_text())
        assert lineage["lr_scale"] == 0.5 and len(lineage["slices"]) == 1
        assert again["lr"] == RECIPES[("cpu", "solver")].lr / 2 and again["next_lr_scale"] == 0.25
        assert len(list((tmp_path / "state").glob("glow-denoise.before-*"))) == 1


def test_the_learning_rate_halves_after_rounds_that_ship_nothing_down_to_a_floor(tmp_path):
    kept = {"event": "kept", "candidate": 20.0, "shipped": 21.0}
    scales = [schedule.after_round(tmp_path, "m", kept) for _ in range(6)]
    assert scales == [0.5, 0.25, 0.125, 0.0625, 0.0625, 0.0625] and schedule.FLOOR == 0.0625
    assert schedule.after_round(tmp_path, "m", {"event": "shipped", "candidate": 22.0}) == 0.0625
    assert schedule.after_round(tmp_path, "n", {"event": "kept", "why": "the run has no checkpoint yet"}) == 1.0
    assert schedule.lr_scale(tmp_path, "n") == 1.0
    schedule.set_lr_scale(tmp_path, "n", 0.3, "diverged at 1e-4")
    assert schedule.lr_scale(tmp_path, "n") == 0.3
    assert json.loads((tmp_path / schedule.SCHEDULE).read_text())["n"]["history"][-1]["why"] == "diverged at 1e-4"
    with pytest.raises(ValueError, match="scale"):
        schedule.set_lr_scale(tmp_path, "n", 2.0, "")


def test_a_noise_conditioned_candidate_is_judged_over_the_sweep_and_ships_its_range(tmp_path):
    from cli_fixtures import save_tiny_conditioned

    from flowrestore.shipping.pipeline import ScoreCache, decide, export_shipped

    root = _repository(tmp_path)
    data = tmp_path / "data"
    write_images(data / "val", 2, seed=1)
    config = ShipConfig(root=root, data=data, state_root=tmp_path / "state", report_limit=2, budget=0.0, margin=-1e9,
                        report_sets=(str(data / "val"), str(data / "val")))
    candidate = tmp_path / "candidate.safetensors"
    export_shipped(save_tiny_conditioned(tmp_path / "fit.safetensors"), candidate, [{"device": "cpu", "seconds": 5}])
    entry = load_registry(root / "flowrestore" / "checkpoints.toml")["glow-denoise"]
    with single_thread():
        decision = decide(entry, candidate, None, config, ScoreCache(tmp_path / "scores.json"), lambda e: None)
    assert decision["event"] == "shipped" and decision["metric"] == "psnr (sweep mean)"
    shipped = load_registry(root / "flowrestore" / "checkpoints.toml")["glow-denoise"]
    assert shipped.sigma_range == (0.02, 0.3) and "val_sweep_psnr" in shipped.metrics
    assert shipped.metrics["compute"] == [{"device": "cpu", "seconds": 5}]


def test_the_size_budget_counts_the_files_git_tracks(tmp_path):
    import subprocess

    from flowrestore.shipping import tree_size

    (tmp_path / "tracked.bin").write_bytes(b"x" * 1000)
    (tmp_path / "untracked.bin").write_bytes(b"y" * 500)
    for carried in (".gpu/data.tar.gz", "pkg/__pycache__/m.pyc", "pkg.egg-info/PKG-INFO"):
        (tmp_path / carried).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / carried).write_bytes(b"z" * 700)
    assert tree_size.tracked_bytes(tmp_path) == 1500  # no work tree (a device's copy): the files but caches and data
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "tracked.bin"], cwd=tmp_path, check=True)
    assert tree_size.tracked_bytes(tmp_path) == 1000


@pytest.mark.parametrize("spare, event", [(-1, "kept"), (0, "would ship")])
def test_a_candidate_that_would_take_the_repository_past_its_size_budget_is_kept(tmp_path, spare, event):
    from flowrestore.shipping import tree_size
    from flowrestore.shipping.pipeline import ScoreCache, decide, export_shipped

    root = _repository(tmp_path)
    data = tmp_path / "data"
    write_images(data / "val", 2, seed=1)
    candidate = tmp_path / "candidate.safetensors"
    export_shipped(save_tiny(tmp_path / "fit.safetensors"), candidate, [{"device": "cpu", "seconds": 5}])
    shipped = root / "flowrestore" / "weights" / "denoise.safetensors"
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    size = tree_size.tracked_bytes(root) - shipped.stat().st_size + candidate.stat().st_size
    assert size == tree_size.after_replacing(root, shipped, candidate)
    config = ShipConfig(root=root, data=data, state_root=tmp_path / "state", budget=0.0, margin=-1e9, dry_run=True,
                        size_budget=size + spare)
    entry = load_registry(root / "flowrestore" / "checkpoints.toml")["glow-denoise"]
    decision = decide(entry, candidate, None, config, ScoreCache(tmp_path / "scores.json"), lambda e: None)
    assert decision["event"] == event, decision
    if event == "kept":
        assert f"{size / 1e6:.1f} MB, over the" in decision["why"]
        assert not (tmp_path / "scores.json").exists()  # decided before any scoring
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("files_change, event", [(-0.5, "kept"), (-0.01, "shipped"), (0.3, "shipped")])
def test_a_candidate_told_float_from_8bit_ships_only_if_8bit_files_do_not_get_worse(tmp_path, monkeypatch,
                                                                                       files_change, event):
    from cli_fixtures import save_tiny_storage_aware

    from flowrestore.shipping import pipeline
    from flowrestore.shipping.pipeline import ScoreCache, decide, export_shipped

    root = _repository(tmp_path)
    data = tmp_path / "data"
    write_images(data / "val", 2, seed=1)
    config = ShipConfig(root=root, data=data, state_root=tmp_path / "state", report_limit=2, budget=0.0, margin=0.0,
                        report_sets=(str(data / "val"), str(data / "val")))
    candidate = tmp_path / "candidate.safetensors"
    export_shipped(save_tiny_storage_aware(tmp_path / "fit.safetensors"), candidate, [{"device": "cpu", "seconds": 5}])
    shipped_file = root / "flowrestore" / "weights" / "denoise.safetensors"
    before = shipped_file.read_bytes()
    # the candidate wins by 10 dB on the float protocol; on 8-bit files it changes by files_change
    scores = {(False, False): 30.0, (True, False): 40.0, (False, True): 31.0, (True, True): 31.0 + files_change}

    def fake_score(entry, path, dataset, config, cache, limit, sweep=False, eight_bit=False):
        return Score("psnr", scores[(Path(path) == candidate, eight_bit)], 0.9, 2, 0.1)

    monkeypatch.setattr(pipeline, "_score", fake_score)
    monkeypatch.setattr(pipeline, "ship", lambda entry, candidate, metrics, config, replaces=None:
                        shipped.update(metrics) or "sha")
    shipped = {}
    entry = load_registry(root / "flowrestore" / "checkpoints.toml")["glow-denoise"]
    decision = decide(entry, candidate, None, config, ScoreCache(tmp_path / "scores.json"), lambda e: None)
    assert decision["event"] == event, decision
    assert decision["shipped_8bit"] == 31.0 and decision["candidate_8bit"] == pytest.approx(31.0 + files_change)
    if event == "kept":
        assert "8-bit files" in decision["why"] and not shipped
    else:
        assert shipped["val_psnr"] == 40.0 and shipped["val_psnr_8bit"] == pytest.approx(31.0 + files_change)
        assert shipped["psnr_8bit"] == pytest.approx(31.0 + files_change)  # the test set is the val set here
    assert shipped_file.read_bytes() == before


@pytest.mark.parametrize("candidate_psnr, event", [(33.0, "kept"), (36.0, "shipped")])
def test_a_candidate_is_compared_again_when_another_pipeline_ships_the_model_first(tmp_path, monkeypatch,
                                                                                  candidate_psnr, event):
    """Two pipelines training one model both beat the file they found; the one that ships second
    must beat the first one's file, not the file both started from (a GPU window lost its better
    noise-aware denoiser that way)."""
    from flowrestore.checkpoints import sha256_of
    from flowrestore.shipping import pipeline
    from flowrestore.shipping.pipeline import ScoreCache, decide, export_shipped

    root = _repository(tmp_path)
    data = tmp_path / "data"
    write_images(data / "val", 2, seed=1)
    config = ShipConfig(root=root, data=data, state_root=tmp_path / "state", budget=0.0, margin=0.0, reports=False)
    fit = save_tiny(tmp_path / "fit.safetensors")
    candidate, rival = tmp_path / "candidate.safetensors", tmp_path / "rival.safetensors"
    export_shipped(fit, candidate, [{"device": "cpu", "seconds": 5}])
    export_shipped(fit, rival, [{"device": "cpu", "seconds": 7}])
    shipped_file = root / "flowrestore" / "weights" / "denoise.safetensors"
    scores = {sha256_of(shipped_file): 30.0, sha256_of(rival): 35.0, sha256_of(candidate): candidate_psnr}
    monkeypatch.setattr(pipeline, "_score", lambda entry, path, *a, **k: Score("psnr", scores[sha256_of(path)],
                                                                                 0.9, 2, 0.1))
    events, rival_shipped = [], []

    def metrics_while_the_rival_ships(entry, path, val, config, cache):
        if not rival_shipped:  # the other pipeline ships its file while this one scores the test sets
            rival_shipped.append(shipped_file.write_bytes(rival.read_bytes()))
        return {"val_psnr": val.value}

    monkeypatch.setattr(pipeline, "_metrics", metrics_while_the_rival_ships)
    entry = load_registry(root / "flowrestore" / "checkpoints.toml")["glow-denoise"]
    decision = decide(entry, candidate, None, config, ScoreCache(tmp_path / "scores.json"), events.append)
    assert [e["event"] for e in events if e["event"] == "superseded"] == ["superseded"]
    assert decision["event"] == event and decision["shipped"] == 35.0, decision
    winner = candidate if event == "shipped" else rival
    assert shipped_file.read_bytes() == winner.read_bytes()
    # the rival's own pipeline registers its file; here only the file changed hands
    registered = load_registry(root / "flowrestore" / "checkpoints.toml")["glow-denoise"].sha256
    assert registered == (sha256_of(candidate) if event == "shipped" else entry.sha256)


@pytest.mark.parametrize("task", ["denoise", "deblur"])
def test_reship_fills_a_new_registry_entry_in_the_shipped_format(tmp_path, task):
    from cli_fixtures import save_tiny_blur_conditioned, save_tiny_conditioned

    from flowrestore.serialization import read_metadata
    from flowrestore.shipping.pipeline import ScoreCache, reship

    root = _repository(tmp_path)
    registry = root / "flowrestore" / "checkpoints.toml"
    head, rows = registry_file.read(registry)
    name = f"glow-{task}-aware"
    rows.append({"name": name, "kind": "solver", "architecture": "tiny", "task": {"task": task},
                 "file": "weights/aware.safetensors", "sha256": ""})
    for path in (registry, root / "checkpoints.toml"):
        path.write_text(registry_file.render(head, rows))
    data = tmp_path / "data"
    write_images(data / "val", 2, seed=1)
    config = ShipConfig(root=root, data=data, state_root=tmp_path / "state", report_limit=2, budget=0.0,
                        report_sets=(str(data / "val"), str(data / "val")))
    entry = load_registry(registry)[name]
    save = save_tiny_conditioned if task == "denoise" else save_tiny_blur_conditioned
    with single_thread():
        decision = reship(entry, save(tmp_path / "fit.safetensors"), config, ScoreCache(tmp_path / "scores.json"))
    assert decision["event"] == "shipped" and decision["shipped"] is None, decision
    assert decision["metric"] == "psnr (sweep mean)"  # judged over the task's sweep
    shipped = load_registry(registry)[name]
    weights = root / "flowrestore" / "weights" / "aware.safetensors"
    assert shipped.sha256 == sha256(weights)
    if task == "denoise":
        assert shipped.sigma_range == (0.02, 0.3) and shipped.blur_range is None
    else:
        assert shipped.blur_range == (1.0, 8.0) and shipped.task["blur_kernel"] == 5
    assert read_metadata(weights)["storage"] == "int8"
    assert shipped.metrics["val_sweep_psnr"] == pytest.approx(decision["candidate"], abs=1e-3)
    assert load_registry(registry)["glow-denoise"].sha256 == sha256(root / "flowrestore" / "weights" / "denoise.safetensors")


@pytest.mark.parametrize("needed, stored", [(-float("inf"), "int8"), (float("inf"), "float16")])
def test_a_task_model_falls_back_to_fp16_when_int8_changes_its_restorations(tmp_path, monkeypatch, needed, stored):
    from flowrestore.serialization import load_model, read_metadata
    from flowrestore.shipping import storage

    monkeypatch.setattr(storage, "AGREEMENT_DB", needed)
    source = save_tiny(tmp_path / "fit.safetensors")
    write_images(tmp_path / "val", 2, seed=1)
    out = tmp_path / "out.safetensors"
    with single_thread():
        assert storage.save_shipped(out, load_model(source), {"task": read_metadata(source)["task"]},
                                    tmp_path / "val") == stored
    assert read_metadata(out)["storage"] == stored


def test_int8_that_changes_the_restorations_is_tried_with_float16_output_convolutions_first(tmp_path, monkeypatch):
    """The export measures each storage it tries by the agreement of its restorations with the exact
    model's, and keeps the first that agrees: int8, then int8 with fp16 output convolutions, then fp16."""
    import torch

    from flowrestore.flow import Glow, GlowConfig
    from flowrestore.operators import TaskSpec
    from flowrestore.quantization import output_convolution
    from flowrestore.serialization import load_model, read_metadata, save_model
    from flowrestore.shipping import storage
    from flowrestore.solver import SolverConfig, UnrolledSolver

    tried = []

    def agreement_with(reference, rounded, task, images, sigma):  # as measured: the mixed file agrees, int8 not
        kept = all(rounded.state_dict()[k].equal(v.half().float())
                   for k, v in solver.state_dict().items() if output_convolution(k))
        tried.append(kept)
        return 50.0 if kept else 40.0

    monkeypatch.setattr(storage, "AGREEMENT_DB", 45.0)
    monkeypatch.setattr(storage, "agreement_with", agreement_with)
    prior = Glow(GlowConfig(channels=3, levels=2, depth=2, hidden=32))  # kernels large enough to be rounded
    prior(torch.rand(4, 3, 8, 8))
    solver = UnrolledSolver.from_prior(prior, SolverConfig(folds=2))
    with torch.no_grad():  # trained-looking output convolutions (they start at zero, which rounds exactly)
        for p in solver.parameters():
            p.add_(0.01 * torch.randn_like(p))
    source = tmp_path / "fit.safetensors"
    save_model(source, solver, extra={"task": TaskSpec.default("denoise").to_dict()})
    write_images(tmp_path / "val", 2, seed=1)
    out = tmp_path / "out.safetensors"
    assert storage.save_shipped(out, load_model(source), {"task": read_metadata(source)["task"]},
                                tmp_path / "val") == "int8+float16"
    assert tried == [False, True]
    assert read_metadata(out)["storage"] == "int8+float16"


def test_agreement_is_infinite_for_the_same_model_and_finite_for_a_changed_one(tmp_path):
    import torch

    from flowrestore.operators import TaskSpec
    from flowrestore.serialization import load_model
    from flowrestore.shipping.storage import agreement

    model = load_model(save_tiny(tmp_path / "a.safetensors")).model
    other = load_model(tmp_path / "a.safetensors").model
    with torch.no_grad():
        other.step_size_raw.add_(0.5)
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with single_thread():
        assert agreement(model, model, TaskSpec.default("denoise"), images) == float("inf")
        assert 0 < agreement(model, other, TaskSpec.default("denoise"), images) < 100


@pytest.mark.parametrize("extension", ["ridge", "blur-aware", "levels", "noise-aware deblur", "box jitter"])
def test_a_continued_model_keeps_what_its_file_says_of_itself(tmp_path, extension):
    """The pipeline's fine-tune config rebuilds the shipped architecture, so the run continues the
    same function (build_solver loads every weight only when the configurations match)."""
    from dataclasses import replace

    import torch
    from cli_fixtures import save_tiny_blur_conditioned, save_tiny_storage_aware, tiny_solver

    from flowrestore.checkpoints import Entry
    from flowrestore.operators import TaskSpec
    from flowrestore.serialization import load_model, save_model
    from flowrestore.shipping.continuation import continuation_config
    from flowrestore.solver import SolverConfig, UnrolledSolver
    from flowrestore.training.finetune import build_solver

    path = tmp_path / "model.safetensors"
    task = {"levels": "denoise", "box jitter": "inpaint"}.get(extension, "deblur")
    if extension == "blur-aware":
        save_tiny_blur_conditioned(path)
    elif extension == "noise-aware deblur":
        save_tiny_storage_aware(path)
    else:
        prior = tiny_solver().proxes[0].flow
        config = {"ridge": SolverConfig(folds=2, initial_guess="ridge", ridge_balance=1e-4),
                  "levels": SolverConfig(folds=2, level_shrinkage=True)}.get(extension, SolverConfig(folds=2))
        extra = {"task": TaskSpec.default(task).to_dict()}
        if extension == "box jitter":  # what a run trained with --box-jitter 4 records
            extra["training"] = {"box_jitter": 4}
        save_model(path, UnrolledSolver.from_prior(prior, config), extra=extra)
    prior_path = save_tiny(tmp_path / "prior.safetensors", None)
    entry = Entry(name=f"glow-{task}", kind="solver", architecture="tiny", task={"task": task})
    common = dict(train_dir=tmp_path, val_dir=None, out_dir=tmp_path / "run", device="cpu", image_size=16)
    config = continuation_config(entry, path, prior_path, RECIPES[("cpu", "solver")], common, path)
    rebuilt = build_solver(config)
    shipped = load_model(path).model
    initial = dict(init_step_size=rebuilt.config.init_step_size, init_shrinkage=rebuilt.config.init_shrinkage)
    assert replace(shipped.config, **initial) == rebuilt.config  # the same model but for where training began
    for name, value in shipped.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[name], value), name
    if task == "deblur":
        assert config.eight_bit_fraction == 0.5  # deblurrers go on training on files and floats alike
    if extension == "noise-aware deblur":
        assert config.sigma_range == (0.002, 0.02) and config.storage_noise
    assert config.box_jitter == (4 if extension == "box jitter" else 0)  # shifted boxes are not forgotten
    assert not config.cuda_graph  # CPUs have no graphs
    # on CUDA the step is recorded as a graph, but for a blur-aware model (a new blur every batch)
    on_gpu = continuation_config(entry, path, prior_path, RECIPES[("cuda", "solver")], {**common, "device": "cuda"},
                                 path)
    assert on_gpu.cuda_graph == (extension != "blur-aware")
    eager = continuation_config(entry, path, prior_path, replace(RECIPES[("cuda", "solver")], cuda_graph=False),
                                {**common, "device": "cuda"}, path)
    assert not eager.cuda_graph


@pytest.mark.parametrize("recorded, noise", [(None, 0.02), (0.0, 0.0), (0.01, 0.01)])
def test_a_blur_aware_deblurrer_goes_on_training_with_the_noise_it_records(tmp_path, recorded, noise):
    from cli_fixtures import save_tiny_blur_conditioned

    from flowrestore.checkpoints import Entry
    from flowrestore.serialization import load_model, save_model
    from flowrestore.shipping.continuation import continuation_config

    path = save_tiny_blur_conditioned(tmp_path / "model.safetensors")
    if recorded is not None:  # what `finetune --blur-range` writes into the file's training record
        ckpt = load_model(path)
        extra = {k: v for k, v in ckpt.metadata.items() if k not in ("kind", "config", "format")}
        save_model(path, ckpt.model, extra={**extra, "training": {"blur_noise": recorded, "eight_bit_fraction": 0.5}})
    entry = Entry(name="glow-deblur-aware", kind="solver", architecture="tiny", task={"task": "deblur"})
    common = dict(train_dir=tmp_path, val_dir=None, out_dir=tmp_path / "run", device="cpu", image_size=16)
    prior = save_tiny(tmp_path / "prior.safetensors", None)
    config = continuation_config(entry, path, prior, RECIPES[("cpu", "solver")], common, path)
    assert config.blur_range == (1.0, 8.0) and config.blur_noise == noise and config.eight_bit_fraction == 0.5


def test_a_noise_aware_deblurrer_is_stored_for_shipping_like_any_model(tmp_path):
    from cli_fixtures import save_tiny_storage_aware

    from flowrestore.serialization import load_model, read_metadata
    from flowrestore.shipping import storage

    source = save_tiny_storage_aware(tmp_path / "fit.safetensors")
    write_images(tmp_path / "val", 2, seed=1)
    out = tmp_path / "out.safetensors"
    with single_thread():
        stored = storage.save_shipped(out, load_model(source), {"task": read_metadata(source)["task"]},
                                      tmp_path / "val")
    assert stored in ("int8", "float16") and load_model(out).model.config.storage_noise


def test_a_report_is_stale_once_the_registry_names_another_file(tmp_path):
    root = _repository(tmp_path)
    assert reports.stale(root) == list(reports.REPORTS)  # none written yet
    with single_thread():
        written = reports.refresh(root, limit=2)
    assert [p.relative_to(root).as_posix() for p in written] == [r.path for r in reports.REPORTS]
    assert reports.stale(root) == [] and reports.refresh(root, limit=2) == []  # nothing to do now
    anime = (root / "docs" / "results" / "table4-anime.md").read_text()
    assert "Dataset `anime` (2 images" in anime and reports.REPORTS[1].command in anime
    head, rows = registry_file.read(root / "flowrestore" / "checkpoints.toml")
    rows = registry_file.update_row(rows, "glow-denoise", sha256="0" * 64)  # as a shipment of another file does
    (root / "flowrestore" / "checkpoints.toml").write_text(registry_file.render(head, rows))
    assert reports.stale(root) == list(reports.REPORTS)
    assert reports.recorded("no record here") == {}
