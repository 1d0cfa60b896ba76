"""The benchmark loop: reproducible, batch-independent, narrowed by --limit, skips what it cannot run."""

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from flowrestore.benchmark import EXPERIMENTS, BenchmarkConfig, plan, required_checkpoints, run_benchmark
from flowrestore.benchmark.datasets import image_seed, load_images
from flowrestore.benchmark.report import summarize, write_report


def _numbers(result):
    return [(r.setting, r.method, r.image, r.seed, r.psnr, r.ssim) for r in result.records]


@pytest.fixture(scope="module")
def config(image_folder):
    return BenchmarkConfig(
        experiment="table1", dataset=str(image_folder), limit=4, batch_size=2, examples=3,
        methods=("measurement", "tv", "biharmonic", "wiener", "glow", "unet"),
    )


def test_two_runs_give_identical_numbers(config, checkpoints):
    first = run_benchmark(config, checkpoints)
    second = run_benchmark(config, checkpoints)
    assert _numbers(first) == _numbers(second)
    assert {r.method for r in first.records} == {"measurement", "tv", "biharmonic", "wiener", "glow", "unet"}


def test_numbers_do_not_depend_on_the_batch_size(config, checkpoints):
    narrow = replace(config, methods=("measurement", "tv", "glow"), tasks=("denoise",))
    one = run_benchmark(replace(narrow, batch_size=1), checkpoints)
    three = run_benchmark(replace(narrow, batch_size=3), checkpoints)
    a, b = _numbers(one), _numbers(three)
    assert [r[:4] for r in a] == [r[:4] for r in b]
    np.testing.assert_allclose([r[4:] for r in a], [r[4:] for r in b], rtol=1e-5)


def test_limit_takes_the_first_images_with_name_seeds(config, image_folder):
    result = run_benchmark(replace(config, limit=3, methods=("measurement",)))
    names = sorted({r.image for r in result.records})
    assert names == ["img0.png", "img1.png", "img2.png"]
    assert all(r.seed == image_seed(r.image) for r in result.records)
    assert all(c.n == 3 for c in summarize(result))
    assert len(load_images(str(image_folder))) == 7  # recursive: sub/ included


def test_unavailable_methods_are_skipped_with_a_note(config, checkpoints):
    only = {"glow-denoise": checkpoints["glow-denoise"]}
    result = run_benchmark(
        replace(config, methods=("glow", "unet", "adjoint")), only, unavailable={"unet-denoise": "not published yet"}
    )
    assert {(r.task, r.method) for r in result.records} == {("denoise", "glow"), ("deblur", "adjoint")}
    notes = "\n".join(result.notes)
    assert "skipped unet (denoise sigma=0.2): checkpoint unet-denoise is not available (not published yet)" in notes
    assert "glow-inpaint is not available" in notes
    assert list(result.checkpoints) == ["glow-denoise"]


def test_unregistered_comparison_models_are_one_note(config, checkpoints):
    from flowrestore.checkpoints import NOT_REGISTERED

    missing = {f"{method}-{task}": NOT_REGISTERED
               for method in ("resnet", "unet") for task in ("denoise", "deblur")}
    result = run_benchmark(replace(config, methods=("measurement", "resnet", "unet")), {}, unavailable=missing)
    skipped = [note for note in result.notes if "not in the registry" in note]
    assert skipped == ["skipped resnet, unet (denoise sigma=0.2; deblur sigma_b=5): their checkpoints (resnet-<task>, "
                       "unet-<task>) are not in the registry (the bundled one lists the shipped GLOW models only); "
                       "scripts/train_baselines.py trains the comparison models, and --checkpoint-dir DIR runs them "
                       "(docs/benchmark.md)"]
    assert {r.method for r in result.records} == {"measurement"}


def test_method_for_no_task_of_the_experiment_is_noted(config):
    result = run_benchmark(replace(config, methods=("measurement", "biharmonic"), tasks=("denoise",)))
    assert any("skipped biharmonic: it applies to inpaint only" in n for n in result.notes)


def test_report_writes_table_csv_json_and_figures(tmp_path, checkpoints):
    cfg = BenchmarkConfig(dataset="celeba", limit=2, methods=("measurement", "tv", "glow"), examples=2)
    result = run_benchmark(cfg, checkpoints)
    written = write_report(result, tmp_path)
    names = {p.name for p in written}
    assert {"results.md", "results.csv", "summary.json", "figure-denoise-sigma0.2.png"} <= names
    md = (tmp_path / "results.md").read_text()
    assert "| GLOW prox (proposed) |" in md and "28.236 (Wei et al. Table I)" in md
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert rows[0] == "setting,task,method,image,seed,psnr,ssim,seconds" and len(rows) == 1 + 2 * (1 + 1 + 1) + 2 * 2 * 2
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["limit"] == 2 and summary["dataset"]["images"] == 2
    assert set(summary["checkpoints"]) == {"glow-denoise", "glow-inpaint", "glow-deblur"}
    assert len(summary["checkpoints"]["glow-denoise"]["sha256"]) == 64
    assert {"torch", "numpy", "flowrestore", "scikit-image"} <= set(summary["versions"])
    assert summary["device"]["device"] == "cpu"
    # every other row against glow, paired on the two images, in the settings where both ran
    assert [(d["setting"], d["method"], d["n"]) for d in summary["paired_differences"]] == [
        ("denoise sigma=0.2", "measurement", 2), ("denoise sigma=0.2", "tv", 2),
        ("inpaint 19x19", "measurement", 2), ("deblur sigma_b=5", "measurement", 2)]
    assert "## Paired differences: GLOW prox (proposed) minus each row" in md
    with Image.open(tmp_path / "figure-denoise-sigma0.2.png") as fig:
        # columns: measurement, tv, glow, ground truth (the measurement method has no second column)
        assert fig.width == 4 * 128 + 3 * 2 and fig.height == 14 + 2 * 128 + 2


def test_every_experiment_plans_its_grid():
    for name, experiment in EXPERIMENTS.items():
        planned = plan(BenchmarkConfig(experiment=name))
        assert planned.settings and planned.methods
        assert all(n.split("-")[-1] in ("denoise", "inpaint", "deblur")
                   or n in ("celeba-prior", "glow-denoise-aware", "glow-deblur-aware")
                   for n in required_checkpoints(planned))
    sweep = plan(BenchmarkConfig(experiment="deblur-sweep"))
    assert [s.spec.blur_sigma for s in sweep.settings] == [1, 2, 3, 4, 5, 6, 8]
    assert {s.spec.kernel_size for s in sweep.settings} == {5} and "glow-deblur-aware" in required_checkpoints(sweep)
    low = plan(BenchmarkConfig(experiment="denoise-low"))
    assert [s.spec.noise_sigma for s in low.settings] == [0.005, 0.01, 0.02, 0.03, 0.05]
    assert "glow-denoise-aware" in required_checkpoints(low)
    assert plan(BenchmarkConfig(dataset="anime")).name == "table4"
    assert plan(BenchmarkConfig()).name == "table1"
    table3 = plan(BenchmarkConfig(experiment="table3"))
    assert [s.label() for s in table3.settings] == ["denoise sigma=0.25", "inpaint 16x16", "deblur sigma_b=8"]
    assert all(s.trained != s.spec for s in table3.settings)
    assert "pnp-inpaint" in required_checkpoints(plan(BenchmarkConfig(experiment="table2", tasks=("inpaint",))))


@pytest.mark.parametrize("bad", [{"experiment": "table9"}, {"tasks": ("sharpen",)}, {"methods": ("magic",)},
                                 {"experiment": "denoise-sweep", "tasks": ("deblur",)}])
def test_bad_selections_are_value_errors(bad):
    with pytest.raises(ValueError):
        plan(BenchmarkConfig(**bad))


def test_mixed_sizes_need_a_size(tmp_path, smooth):
    for i, shape in enumerate([(40, 48), (36, 36)]):
        Image.fromarray((smooth(i, 48)[: shape[0], : shape[1]] * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    with pytest.raises(ValueError, match="different sizes"):
        load_images(str(tmp_path))
    assert load_images(str(tmp_path), size=32).images.shape == (2, 3, 32, 32)


def test_cli_map_steps_default_matches_the_library():
    from flowrestore.benchmark import MapConfig
    from flowrestore.cli.benchmark import MAP_STEPS

    assert MAP_STEPS == MapConfig.steps


def test_paired_differences_pair_by_image_not_by_order():
    from flowrestore.benchmark.harness import ImageResult
    from flowrestore.benchmark.metrics import mean_ci
    from flowrestore.benchmark.report import paired_differences

    def rec(method, image, psnr):
        return ImageResult("s", "denoise", method, image, 0, psnr, 0.5, 0.0)

    glow = {"a": 30.0, "b": 31.0, "c": 32.0}
    unet = {"c": 31.0, "a": 29.0, "b": 29.5}  # other order; a 4th image only unet has is ignored
    records = [rec("glow", k, v) for k, v in glow.items()] + [rec("unet", k, v) for k, v in unet.items()]
    records.append(rec("unet", "d", 10.0))
    (d,) = paired_differences(records, ["s"], ["glow", "unet"])
    assert (d.method, d.against, d.n) == ("unet", "glow", 3)
    assert (d.psnr_diff, d.psnr_diff_ci) == pytest.approx(mean_ci([1.0, 1.5, 1.0]))
    assert d.wins == 1.0
    assert paired_differences(records, ["other"], ["glow", "unet"]) == []


def test_glow_map_is_opt_in_on_the_cpu(image_folder, checkpoints):
    base = BenchmarkConfig(experiment="table1", dataset=str(image_folder), limit=1, tasks=("inpaint",), examples=0)
    default = run_benchmark(base, checkpoints)
    assert "glow-map" not in {r.method for r in default.records}
    assert any("--method glow-map" in n for n in default.notes)
    asked = run_benchmark(replace(base, methods=("glow-map",), map=replace(base.map, steps=1)), checkpoints)
    assert {r.method for r in asked.records} == {"glow-map"}


def test_each_registry_denoiser_has_the_row_that_scores_it():
    from flowrestore.benchmark.methods import method_for_checkpoint
    from flowrestore.errors import UsageError

    assert method_for_checkpoint("glow-denoise", "denoise") == "glow"
    assert method_for_checkpoint("glow-denoise-aware", "denoise") == "glow-aware"
    assert method_for_checkpoint("glow-deblur", "deblur") == "glow"
    with pytest.raises(UsageError, match="no benchmark row"):
        method_for_checkpoint("glow-denoise-aware", "deblur")
