"""The registry: the shipped file, name/path resolution, hash checks, task checks, clear errors."""

import tomllib
from pathlib import Path

import pytest
from cli_fixtures import checkpoint_dir, one_thread, sha256, write_registry  # noqa: F401 (fixtures)

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


def test_shipped_registry_lists_the_four_defaults_without_hub_entries():
    entries = load_registry()
    assert list(entries) == ["celeba-prior", "glow-denoise", "glow-inpaint", "glow-deblur"]
    assert entries["celeba-prior"].kind == "glow" and entries["celeba-prior"].task is None
    assert entries["glow-denoise"].task["noise_sigma"] == 0.2
    assert entries["glow-inpaint"].task["box"] == 19
    assert entries["glow-deblur"].task["blur_sigma"] == 5
    for task in ("denoise", "inpaint", "deblur"):
        assert entries[default_checkpoint(task)].task_name == task
    for entry in entries.values():
        assert entry.hub is None, "no entry may point at a hub repository that does not exist"
        assert entry.file == f"weights/{entry.name}.safetensors"


def test_shipped_tasks_are_valid_task_specs():
    from flowrestore.operators import TaskSpec

    from flowrestore.serialization import read_metadata

    for entry in list_checkpoints():
        if entry.task:
            spec = TaskSpec.from_dict(entry.task)
            assert spec.to_dict().items() >= entry.task.items()
            # the registry describes the operator the file itself records
            assert spec == TaskSpec.from_dict(read_metadata(entry.bundled_path())["task"])


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
