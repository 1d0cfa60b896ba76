"""8-bit weight storage: the rounding bound, exactness where promised, and files that load as models."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from flowrestore.errors import CheckpointError
from flowrestore.flow import Glow, GlowConfig
from flowrestore.quantization import SCALE_SUFFIX, dequantize, output_convolution, quantize
from flowrestore.serialization import load_model, save_model

WIDE_GLOW = GlowConfig(channels=3, levels=2, depth=2, hidden=32)  # coupling kernels of 1,728+ entries


def test_rounding_error_is_at_most_half_a_step_per_output_channel():
    w = torch.randn(16, 8, 3, 3) * torch.logspace(-3, 1, 16).reshape(-1, 1, 1, 1)
    q = quantize({"w": w})
    assert q["w"].dtype == torch.int8
    scale = q["w" + SCALE_SUFFIX]
    assert scale.shape == (16, 1, 1, 1)
    back = dequantize(q)["w"]
    assert ((back - w).abs() <= scale / 2 + 1e-7 * w.abs()).all()
    # each channel's largest entry is kept exactly (it maps to +-127)
    rows = w.reshape(16, -1)
    assert torch.allclose(back.reshape(16, -1).abs().amax(1), rows.abs().amax(1), rtol=1e-6)


def test_small_and_non_kernel_tensors_are_kept_and_whole_numbers_stored_exactly():
    lu = torch.randn(48, 48)  # an LU factor: two dimensions, kept as given
    small = torch.randn(4, 3, 3, 3)  # a kernel under the size threshold
    mask = torch.tril(torch.ones(48, 48), -1)
    signs = torch.tensor([1.0, -1.0, -1.0])
    q = quantize({"lu": lu, "small": small, "mask": mask, "signs": signs, "flag": torch.tensor(True)})
    assert torch.equal(q["lu"], lu) and torch.equal(q["small"], small)
    assert q["mask"].dtype == torch.int8 and q["signs"].dtype == torch.int8
    assert not any(k.endswith(SCALE_SUFFIX) for k in q)
    back = dequantize(q)
    assert torch.equal(back["mask"].float(), mask) and torch.equal(back["signs"].float(), signs)


def test_inconsistent_scales_are_refused():
    q = quantize({"w": torch.randn(8, 8, 4, 4)})
    with pytest.raises(ValueError, match="has no tensor"):
        dequantize({"w" + SCALE_SUFFIX: q["w" + SCALE_SUFFIX]})
    with pytest.raises(ValueError, match="does not match its scale"):
        dequantize({"w": q["w"], "w" + SCALE_SUFFIX: torch.ones(4, 1, 1, 1)})


def _trained_like_glow(x):
    glow = Glow(WIDE_GLOW)
    glow(x)
    with torch.no_grad():
        for p in glow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return glow.eval()


def test_int8_file_is_smaller_loads_strictly_and_stays_invertible(tmp_path):
    x = torch.rand(4, 3, 16, 16)
    glow = _trained_like_glow(x)
    half, small = tmp_path / "half.safetensors", tmp_path / "int8.safetensors"
    save_model(half, glow, dtype=torch.float16)
    save_model(small, glow, dtype=torch.int8)
    assert small.stat().st_size < 0.75 * half.stat().st_size
    loaded = load_model(small)
    assert loaded.metadata["storage"] == "int8"
    model = loaded.model.eval()
    with torch.no_grad():
        z, logdet = model(x)
        again = model.decode(z)
        ref_z, ref_logdet = glow(x)
    assert torch.allclose(again, x, atol=1e-4)  # exactly invertible whatever the rounding
    for zi, ref in zip(z, ref_z):  # and close to the unrounded model
        assert (zi - ref).abs().max() < 0.05 * ref.abs().max()
    assert torch.allclose(logdet, ref_logdet, rtol=1e-3)  # log-determinants live in kept tensors


def test_a_file_with_float16_output_convolutions_keeps_exactly_those_and_reads_back(tmp_path):
    x = torch.rand(4, 3, 16, 16)
    glow = _trained_like_glow(x)
    full, mixed, half = (tmp_path / f"{n}.safetensors" for n in ("int8", "mixed", "half"))
    save_model(full, glow, dtype=torch.int8)
    save_model(mixed, glow, dtype=torch.int8, float16_outputs=True)
    save_model(half, glow, dtype=torch.float16)
    assert full.stat().st_size < mixed.stat().st_size < half.stat().st_size
    stored = load_file(str(mixed))
    outputs = [k for k in stored if output_convolution(k)]
    assert len(outputs) == 4  # one per coupling: 2 levels x depth 2
    state = glow.state_dict()
    for name in outputs:  # the output convolutions in fp16, as they are
        assert stored[name].dtype == torch.float16 and name + SCALE_SUFFIX not in stored
        assert torch.equal(stored[name], state[name].half())
    rounded = [k[: -len(SCALE_SUFFIX)] for k in stored if k.endswith(SCALE_SUFFIX)]
    assert rounded and all(stored[k].dtype == torch.int8 and not output_convolution(k) for k in rounded)
    every = {k[: -len(SCALE_SUFFIX)] for k in load_file(str(full)) if k.endswith(SCALE_SUFFIX)}
    assert set(rounded) == every - set(outputs)
    loaded = load_model(mixed)
    assert loaded.metadata["storage"] == "int8+float16"
    with torch.no_grad():
        z, _ = loaded.model.eval()(x)
        assert torch.allclose(loaded.model.decode(z), x, atol=1e-4)
        assert torch.equal(loaded.model.state_dict()[outputs[0]], state[outputs[0]].half().float())


def test_a_file_with_a_stray_scale_is_a_checkpoint_error(tmp_path):
    glow = _trained_like_glow(torch.rand(2, 3, 16, 16))
    path = tmp_path / "int8.safetensors"
    save_model(path, glow, dtype=torch.int8)
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    name = next(k for k in tensors if k.endswith(SCALE_SUFFIX))
    tensors[name] = torch.ones(3, 1, 1, 1)
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match="does not match its scale"):
        load_model(path)
