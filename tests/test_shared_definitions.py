"""One definition each, shared by restore, training, the benchmark and scripts/: PSNR, the
image folders, the device."""

import math

import pytest
import torch
from cli_fixtures import rgb_array, write_image

from flowrestore.devices import pick_device
from flowrestore.errors import DeviceError
from flowrestore.metrics import psnr, psnr_each


def test_the_batched_psnr_is_the_one_image_psnr():
    g = torch.Generator().manual_seed(0)
    x, reference = torch.rand(3, 3, 8, 8, generator=g), torch.rand(3, 3, 8, 8, generator=g)
    each = psnr_each(x, reference)
    assert each.shape == (3,)
    for value, a, b in zip(each.tolist(), x, reference):
        assert math.isclose(value, psnr(a, b), rel_tol=1e-5)
    assert math.isfinite(float(psnr_each(x, x)[0])) and psnr(x[0], x[0]) == math.inf


def test_training_and_the_benchmark_read_the_same_files_the_same_way(tmp_path):
    from flowrestore.benchmark.datasets import load_images
    from flowrestore.training.data import list_images, load_folder

    write_image(tmp_path / "a.png", rgb_array(12, 16))
    (tmp_path / "sub").mkdir()
    write_image(tmp_path / "sub" / "b.bmp", rgb_array(16, 12, seed=1))
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.bmp"]
    benchmark = load_images(str(tmp_path), size=8)
    assert benchmark.names == ("a.png", "sub/b.bmp")
    training = load_folder(tmp_path, size=8).float() / 255
    assert torch.equal(training, benchmark.images)


@pytest.mark.parametrize("choice, words", [("tpu", "unknown device 'tpu'"), ("cuda:x", "unknown device 'cuda:x'")])
def test_an_unknown_device_is_refused(choice, words):
    with pytest.raises(DeviceError, match=words):
        pick_device(choice)


def test_auto_and_cpu_and_cuda_n():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert pick_device("cuda:0") == torch.device("cuda", 0)
        with pytest.raises(DeviceError, match="GPU"):
            pick_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(DeviceError, match="--device cuda:0: CUDA is not available"):
            pick_device("cuda:0")


@pytest.mark.parametrize("choice", ["cuda", "auto", "cuda:0"])
def test_choosing_a_gpu_turns_tf32_off(monkeypatch, choice):
    """TF32 rounding, amplified through the flows' inverses, costs the shipped models 4-37 dB."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", True)
    assert pick_device(choice).type == "cuda"
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    monkeypatch.setenv("FLOWRESTORE_ALLOW_TF32", "1")  # the benchmarks' way to measure what TF32 costs
    pick_device(choice)
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32


def test_file_io_and_the_registry_import_no_model_code():
    """Image files, paths and the checkpoint registry work without the model stack (GLOW, the
    solver, safetensors serialization); the registry and task specs without torch at all."""
    import subprocess
    import sys

    code = (
        "import sys\nimport flowrestore.tasks, flowrestore.checkpoints, flowrestore.files\n"
        "print('torch' in sys.modules)\n"
        "import flowrestore.imageio, flowrestore.image_writing, flowrestore.paths\n"
        "print(sorted(m for m in ('flowrestore.serialization', 'flowrestore.flow.glow', "
        "'flowrestore.solver.unrolled') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "[]"]
