"""docs/api.md's examples run as they stand: each ```python block, from the repository's root."""

import re
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


def test_the_page_has_its_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_each_example_runs(index, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # what an example makes in a temporary folder
    exec(compile(BLOCKS[index], f"docs/api.md, example {index + 1}", "exec"), {})
    assert capsys.readouterr().out  # each prints what it found
