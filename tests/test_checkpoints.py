"""The registry: the shipped file, name/path resolution, hash checks, task checks, clear errors."""

import tomllib
from pathlib import Path

import pytest
from cli_fixtures import sha256, write_registry

from flowrestore import checkpoints
from flowrestore.checkpoints import default_checkpoint, list_checkpoints, load, load_registry, resolve
from flowrestore.errors import (
    CheckpointUnavailableError,
    ChecksumError,
    HubError,
    RegistryError,
    UnknownCheckpointError,
    WrongTaskError,
)
from flowrestore.hub import HubFile

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_registry_is_the_packaged_one():
    assert (ROOT / "checkpoints.toml").read_bytes() == checkpoints.REGISTRY.read_bytes(), (
        "checkpoints.toml and flowrestore/checkpoints.toml differ: edit one and copy it over the other"
    )


def test_shipped_registry_lists_the_defaults_and_the_noise_aware_denoiser_without_hub_entries():
    entries = load_registry()
    assert list(entries) == ["celeba-prior", "glow-denoise", "glow-denoise-aware", "glow-inpaint", "glow-deblur"]
    assert entries["celeba-prior"].kind == "glow" and entries["celeba-prior"].task is None
    assert entries["glow-denoise"].task["noise_sigma"] == 0.2 and entries["glow-denoise"].sigma_range is None
    assert entries["glow-denoise-aware"].sigma_range == (0.02, 0.3)
    assert entries["glow-inpaint"].task["box"] == 19
    assert entries["glow-deblur"].task["blur_sigma"] == 5
    for task in ("denoise", "inpaint", "deblur"):
        assert entries[default_checkpoint(task)].task_name == task
    for entry in entries.values():
        assert entry.hub is None, "no entry may point at a hub repository that does not exist"
        assert entry.file == f"weights/{entry.name}.safetensors"


def test_bundled_weights_are_stored_as_shipped():
    """int8 kernels, int8 with fp16 output convolutions, or fp16, as flowrestore.shipping.storage chooses; the
    size budget is the whole tree's, 30 MB (tests/test_shipped_checkpoints.py)."""
    from flowrestore.serialization import read_metadata

    files = [checkpoints.PACKAGE_DIR / e.file for e in load_registry().values()]
    assert all(read_metadata(f).get("storage") in ("int8", "int8+float16", "float16") for f in files)


def test_shipped_tasks_are_valid_task_specs():
    from flowrestore.operators import TaskSpec
    from flowrestore.serialization import read_metadata

    for entry in list_checkpoints():
        if entry.task:
            spec = TaskSpec.from_dict(entry.task)
            assert spec.to_dict().items() >= entry.task.items()
            # the registry describes the operator (and noise range) the file itself records
            meta = read_metadata(entry.bundled_path())
            assert spec == TaskSpec.from_dict(meta["task"])
            assert entry.sigma_range == (tuple(meta["sigma_range"]) if "sigma_range" in meta else None)
            assert entry.blur_range == (tuple(meta["blur_range"]) if "blur_range" in meta else None)


def test_an_existing_path_is_used_as_it_is(checkpoint_dir):
    path = checkpoint_dir / "tiny-denoise.safetensors"
    assert resolve(str(path)) == path


def test_a_bundled_entry_is_verified(tmp_path, checkpoint_dir):
    path = checkpoint_dir / "tiny-denoise.safetensors"
    row = {"name": "d", "kind": "solver", "file": str(path), "sha256": sha256(path)}
    good = write_registry(tmp_path / "good.toml", [row])
    assert resolve("d", registry=good) == path
    bad = write_registry(tmp_path / "bad.toml", [{**row, "sha256": "0" * 64}])
    with pytest.raises(ChecksumError, match=f"{path} does not match the registry's sha256 for 'd'"):
        resolve("d", registry=bad)


def test_an_entry_without_sha256_cannot_be_used(tmp_path, checkpoint_dir):
    path = checkpoint_dir / "tiny-denoise.safetensors"
    registry = write_registry(tmp_path / "r.toml", [{"name": "d", "kind": "solver", "file": str(path), "sha256": ""}])
    with pytest.raises(ChecksumError, match="'d' has no sha256"):
        resolve("d", registry=registry)


def test_the_bundled_defaults_resolve_and_match_their_hashes():
    for task in ("denoise", "inpaint", "deblur"):
        path = resolve(f"glow-{task}", task=task)
        assert path.name == f"glow-{task}.safetensors" and path.exists()
    assert resolve("celeba-prior").exists()


def test_a_missing_bundled_file_says_so(tmp_path):
    registry = write_registry(
        tmp_path / "r.toml",
        [{"name": "gone", "kind": "solver", "task": {"task": "denoise"}, "file": str(tmp_path / "gone.safetensors"),
          "sha256": "0" * 64}],
    )
    with pytest.raises(CheckpointUnavailableError, match="'gone' is not available: .*gone.safetensors is missing"):
        resolve("gone", task="denoise", registry=registry)


def test_an_entry_for_another_task_is_refused_before_any_download(tmp_path):
    registry = write_registry(
        tmp_path / "r.toml",
        [{"name": "b", "kind": "solver", "task": {"task": "deblur"}, "hub": {"repo_id": "no/such", "filename": "x"}}],
    )
    with pytest.raises(WrongTaskError, match="checkpoint b is a deblur model but the task is denoise"):
        resolve("b", task="denoise", registry=registry)


def test_a_file_for_another_task_is_refused_from_its_metadata(checkpoint_dir):
    with pytest.raises(WrongTaskError, match="is an inpaint model but the task is denoise"):
        load(str(checkpoint_dir / "tiny-inpaint.safetensors"), task="denoise")
    with pytest.raises(WrongTaskError, match="GLOW prior, not a restoration model"):
        load(str(checkpoint_dir / "tiny-prior.safetensors"), task="denoise")


def test_load_checks_the_kind_and_that_a_solver_knows_its_task(tmp_path, checkpoint_dir):
    from flowrestore.errors import CheckpointError
    from flowrestore.serialization import load_model, save_model

    with pytest.raises(WrongTaskError, match="tiny-prior.safetensors is a GLOW prior, not a restoration model"):
        load(str(checkpoint_dir / "tiny-prior.safetensors"), kind="solver")
    with pytest.raises(WrongTaskError, match="holds a solver model, not a GLOW prior"):
        load(str(checkpoint_dir / "tiny-denoise.safetensors"), kind="glow")
    untasked = tmp_path / "untasked.safetensors"
    save_model(untasked, load_model(checkpoint_dir / "tiny-denoise.safetensors").model)
    with pytest.raises(CheckpointError, match="untasked.safetensors records no task; pass --task"):
        load(str(untasked), kind="solver")


def test_locate_reports_absent_checkpoints_and_raises_broken_ones(tmp_path, checkpoint_dir):
    from flowrestore.checkpoints import NOT_REGISTERED, locate
    from flowrestore.errors import UsageError

    path = checkpoint_dir / "tiny-denoise.safetensors"
    row = {"name": "d", "kind": "solver", "file": str(path), "sha256": sha256(path)}
    gone = {"name": "gone", "kind": "solver", "file": str(tmp_path / "gone.safetensors"), "sha256": "0" * 64}
    registry = write_registry(tmp_path / "r.toml", [row, gone])
    located = locate(["d", "gone", "nope"], registry=registry)
    assert located.files == {"d": path}
    assert set(located.missing) == {"gone", "nope"} and located.missing["nope"] == NOT_REGISTERED
    assert "'gone' is not available" in located.missing["gone"]
    broken = write_registry(tmp_path / "b.toml", [{**row, "sha256": "0" * 64}])
    with pytest.raises(ChecksumError):
        locate(["d"], registry=broken)
    folder = locate(["tiny-denoise", "tiny-nope"], folder=checkpoint_dir)
    assert folder.files == {"tiny-denoise": path} and folder.missing == {"tiny-nope": f"not found in {checkpoint_dir}"}
    with pytest.raises(UsageError, match="is not a folder"):
        locate(["d"], folder=tmp_path / "nope")


def test_load_gives_an_eval_model_with_its_task(checkpoint_dir):
    loaded = load(str(checkpoint_dir / "tiny-deblur.safetensors"), task="deblur")
    assert loaded.kind == "solver" and not loaded.model.training
    assert loaded.metadata["task"]["task"] == "deblur"


@pytest.mark.parametrize(
    "spec, error, words",
    [
        ("no-such-model", UnknownCheckpointError, "unknown checkpoint 'no-such-model'; use one of celeba-prior"),
        ("missing/model.safetensors", UnknownCheckpointError, "checkpoint file missing/model.safetensors not found"),
        ("hf://only-owner", HubError, "names no file"),
    ],
)
def test_unknown_specs_are_clear_errors(spec, error, words):
    with pytest.raises(error, match=words):
        resolve(spec)


def test_hub_addresses_parse_with_and_without_revision():
    assert HubFile.parse("hf://o/r/a/b.safetensors@v1.0") == HubFile("o/r", "a/b.safetensors", "v1.0")
    assert HubFile.parse("hf://o/r/b.safetensors") == HubFile("o/r", "b.safetensors", "main")
    assert str(HubFile("o/r", "b.safetensors", "abc")) == "hf://o/r/b.safetensors@abc"


@pytest.mark.parametrize(
    "text, words",
    [
        ("[[checkpoint]]\nkind = 'glow'\n", "needs a name"),
        ("[[checkpoint]]\nname = 'a'\nkind = 'gan'\n", "kind 'gan'"),
        ("[[checkpoint]]\nname = 'a'\nkind = 'glow'\ncolour = 1\n", "unknown fields"),
        ("[[checkpoint]]\nname = 'a'\nkind = 'glow'\n[[checkpoint]]\nname = 'a'\nkind = 'glow'\n", "listed twice"),
        ("[[checkpoint]\n", "not valid TOML"),
    ],
)
def test_malformed_registries_are_reported(tmp_path, text, words):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=words):
        load_registry(path)


def test_registry_rows_are_plain_toml():
    data = tomllib.loads(checkpoints.REGISTRY.read_text())
    assert {row["name"] for row in data["checkpoint"]} == set(load_registry())


def _registry_for(tmp_path, checkpoint_dir, name="glow-denoise", sha=None):
    weights = checkpoint_dir / "tiny-denoise.safetensors"
    row = {"name": name, "kind": "solver", "task": {"task": "denoise", "noise_sigma": 0.2}, "file": str(weights),
           "sha256": sha or sha256(weights)}
    return write_registry(tmp_path / "registry.toml", [row]), weights


def test_a_file_named_like_a_registry_entry_does_not_shadow_it(tmp_path, checkpoint_dir, monkeypatch):
    registry, weights = _registry_for(tmp_path, checkpoint_dir)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "glow-denoise").write_bytes(b"an impostor")
    assert resolve("glow-denoise", registry=registry) == weights
    assert resolve("./glow-denoise", registry=registry) == Path("./glow-denoise")  # written as a path: a path
    (tmp_path / "glow-denoise").unlink()
    (tmp_path / "glow-denoise").mkdir()  # a folder of that name does not shadow it either
    assert resolve("glow-denoise", registry=registry) == weights


def test_a_name_is_never_taken_from_the_working_folder(tmp_path, checkpoint_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-model").write_bytes((checkpoint_dir / "tiny-denoise.safetensors").read_bytes())
    with pytest.raises(UnknownCheckpointError, match="unknown checkpoint 'my-model'.*write ./my-model"):
        resolve("my-model")


def test_a_folder_given_as_a_checkpoint_says_it_is_a_folder(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.safetensors").write_bytes(b"")
    with pytest.raises(UnknownCheckpointError, match=r"run is a folder \(it holds best.safetensors\)"):
        resolve(str(tmp_path / "run"))


def _edited(tmp_path, checkpoint_dir, edit_meta=None, edit_tensors=None, name="edited.safetensors"):
    """The tiny denoiser with its metadata (a dict) or tensors edited in place."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    source = checkpoint_dir / "tiny-denoise.safetensors"
    with safe_open(str(source), framework="pt") as f:
        meta = json.loads(f.metadata()["flowrestore"])
    tensors = load_file(str(source))
    if edit_meta:
        edit_meta(meta)
    if edit_tensors:
        edit_tensors(tensors)
    save_file(tensors, str(tmp_path / name), metadata={"flowrestore": json.dumps(meta)})
    return tmp_path / name


def _prox_config(meta):
    return meta["config"]["prox_config"]


MALFORMED = {
    "wrong tensor shape": (None, lambda t: t.update({"step_size_raw": t["step_size_raw"][:1]}),
                           "tensor step_size_raw has shape (1,) but its configuration needs (2,)"),
    "unknown config key": (lambda m: m["config"].update(colour="blue"), None,
                           "settings this flowrestore does not know (colour): a file written by a newer version"),
    "unknown flow key": (lambda m: _prox_config(m).update(colour="blue"), None, "does not know (prox_config.colour)"),
    "non-numeric task field": (lambda m: m["task"].update(noise_sigma="a lot"), None,
                               "task field noise_sigma is 'a lot', not a float"),
    "task that is not a table": (lambda m: m.update(task="denoise"), None, "its task is 'denoise'"),
    "float where an int is meant": (lambda m: _prox_config(m).update(hidden=8.5), None,
                                    "config.prox_config.hidden is 8.5, not a int"),
    "huge hidden size": (lambda m: _prox_config(m).update(hidden=10**7), None, "but its configuration needs"),
    "huge depth": (lambda m: _prox_config(m).update(depth=10**9), None, "declares a model of at least"),
    "unknown kind": (lambda m: m.update(kind="gan"), None, "its kind is 'gan'"),
    "NaN weights": (None, lambda t: t["step_size_raw"].fill_(float("nan")), "holds NaN or infinite weights"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_checkpoints_are_refused_before_anything_is_built(tmp_path, checkpoint_dir, case):
    import time

    from flowrestore.serialization import CheckpointError, load_model

    edit_meta, edit_tensors, words = MALFORMED[case]
    path = _edited(tmp_path, checkpoint_dir, edit_meta, edit_tensors)
    started = time.monotonic()
    with pytest.raises(CheckpointError) as error:
        load_model(path)
    assert words in str(error.value) and str(path) in str(error.value)
    assert time.monotonic() - started < 10  # nothing of the declared size was allocated


def test_a_training_state_is_not_called_foreign(tmp_path):
    import torch

    from flowrestore.serialization import CheckpointError, read_metadata
    from flowrestore.training.state import save_state

    save_state(tmp_path / "state.safetensors", {"step": 3, "weights": torch.ones(2)})
    with pytest.raises(CheckpointError, match="is a training state .* use .*best.safetensors"):
        read_metadata(tmp_path / "state.safetensors")


def test_exclusive_writes_let_exactly_one_writer_win(tmp_path):
    import threading

    from flowrestore.serialization import atomic_write

    target, barrier, wins, losses = tmp_path / "out.bin", threading.Barrier(8), [], []

    def writer(i):
        def write(tmp):
            Path(tmp).write_bytes(bytes([i]) * 1000)
            barrier.wait()  # every writer has a finished file before any links it into place

        try:
            atomic_write(target, write, exclusive=True)
            wins.append(i)
        except FileExistsError:
            losses.append(i)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 7
    assert target.read_bytes() == bytes([wins[0]]) * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temporary file is left behind
