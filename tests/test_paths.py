"""Input expansion and the output plan: predictable names, nothing overwritten by accident."""

import pytest

from flowrestore.errors import ImageNotFoundError, ImageWriteError
from flowrestore.paths import comparison_paths, expand_inputs, plan_outputs


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_folders_globs_and_files_expand_in_order_once(tmp_path):
    a, b = _touch(tmp_path / "d" / "a.png"), _touch(tmp_path / "d" / "b.JPG")
    _touch(tmp_path / "d" / "a_restored.png")
    _touch(tmp_path / "d" / "notes.txt")
    assert expand_inputs([str(tmp_path / "d" / "b.JPG"), str(tmp_path / "d"), str(tmp_path / "d" / "*.png")]) == [b, a]
    with pytest.raises(ImageNotFoundError, match="holds no .png"):
        expand_inputs([str(_touch(tmp_path / "e" / "x.txt").parent)])


def test_default_outputs_sit_next_to_the_inputs(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "sub" / "b.tiff"
    assert plan_outputs([a, b]) == [tmp_path / "a_restored.png", tmp_path / "sub" / "b_restored.tiff"]
    odd = _touch(tmp_path / "scan.dat")
    assert plan_outputs([odd]) == [tmp_path / "scan_restored.png"]


def test_an_output_folder_keeps_the_names_and_refuses_collisions(tmp_path):
    a, b = tmp_path / "x" / "a.png", tmp_path / "y" / "a.png"
    assert plan_outputs([a], tmp_path / "out") == [tmp_path / "out" / "a.png"]
    with pytest.raises(ImageWriteError, match="both be written to"):
        plan_outputs([a, b], tmp_path / "out")


def test_comparison_figures_are_pngs_beside_the_outputs(tmp_path):
    inputs = [tmp_path / "a.jpg"]
    outputs = plan_outputs(inputs)
    assert comparison_paths(inputs, outputs) == [tmp_path / "a_compare.png"]
    _touch(tmp_path / "a_compare.png")
    with pytest.raises(ImageWriteError, match="a_compare.png already exists"):
        comparison_paths(inputs, outputs)
    assert comparison_paths(inputs, outputs, force=True) == [tmp_path / "a_compare.png"]
