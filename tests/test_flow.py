"""GLOW: invertibility, log-determinant, initialisation and save/load."""

import pytest
import torch

from flowrestore.flow import Glow, GlowConfig, bits_per_dim, preset
from flowrestore.flow.layers import ActNorm, AffineCoupling, InvConv2d, Squeeze
from flowrestore.serialization import load_model, save_model

TINY = GlowConfig(channels=3, levels=2, depth=2, hidden=8)


def _perturb(model: Glow, scale: float = 0.05) -> None:
    """Move every parameter off its initial value (zero-init convs make couplings trivial)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))


def _train_a_few_steps(model: Glow, x: torch.Tensor, steps: int = 5) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = -model.log_prob(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("trained", [False, True])
def test_decode_inverts_encode_float64(float64, trained):
    model = Glow(TINY)
    x = torch.rand(3, 3, 8, 12)
    model(x)  # data-dependent actnorm init
    _perturb(model)
    if trained:
        _train_a_few_steps(model, x)
    z = model.encode(x)
    assert torch.allclose(model.decode(z), x, atol=1e-10, rtol=0)


def test_decode_inverts_encode_float32():
    model = Glow(GlowConfig(levels=3, depth=3, hidden=16))
    x = torch.rand(2, 3, 16, 16)
    model(x)
    _perturb(model, 0.05)
    _train_a_few_steps(model, x)
    assert (model.decode(model.encode(x)) - x).abs().max() < 1e-4


def _flat_jacobian_logdet(fn, x):
    jac = torch.autograd.functional.jacobian(fn, x)
    n = x.numel()
    return torch.linalg.slogdet(jac.reshape(n, n))


@pytest.mark.parametrize(
    "layer",
    [ActNorm(4), InvConv2d(4), AffineCoupling(4, 6), Squeeze()],
    ids=["actnorm", "invconv", "coupling", "squeeze"],
)
def test_layer_logdet_matches_autograd_jacobian(float64, layer):
    layer = layer.double()
    x = torch.randn(1, 4, 2, 2, dtype=torch.float64)
    layer((x,))
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.2 * torch.randn_like(p))
    (_, ladj) = layer((x,))
    sign, logabsdet = _flat_jacobian_logdet(lambda t: layer((t,))[0][-1], x)
    assert sign != 0
    assert torch.allclose(ladj[0], logabsdet, atol=1e-10)


def test_model_logdet_matches_autograd_jacobian(float64):
    model = Glow(GlowConfig(channels=1, levels=2, depth=1, hidden=4))
    x = torch.rand(1, 1, 4, 4)
    model(x)
    _perturb(model, 0.05)

    def flat(t):
        return torch.cat([z.flatten() for z in model.encode(t)])

    _, ladj = model(x)
    _, logabsdet = _flat_jacobian_logdet(flat, x)
    assert torch.allclose(ladj[0], logabsdet, atol=1e-10)


def test_latent_origin_is_most_likely_point(float64):
    model = Glow(TINY)
    x = torch.rand(2, 3, 8, 8)
    model(x)
    z = model.encode(x)
    assert all(zi.shape[1:] == s for zi, s in zip(z, model.latent_shapes(3, 8, 8)))
    zero = model.zeros_latent(1, 8, 8, like=x)
    assert torch.allclose(model.encode(model.decode(zero))[0], zero[0], atol=1e-10)


def test_every_parameter_receives_a_gradient():
    model = Glow(TINY)
    x = torch.rand(4, 3, 8, 8)
    model(x)
    _perturb(model, 0.05)
    (-model.log_prob(x).mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bits_per_dim_of_uniform_density_is_n_bits():
    dims = 3 * 8 * 8
    assert torch.allclose(bits_per_dim(torch.zeros(1), dims, n_bits=8), torch.tensor([8.0]))
    assert torch.allclose(bits_per_dim(torch.zeros(1), dims, n_bits=5), torch.tensor([5.0]))


def test_rejects_sizes_that_do_not_divide(tmp_path):
    model = Glow(TINY)
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.rand(1, 3, 10, 8))


def test_save_load_round_trip_keeps_outputs_and_actnorm(tmp_path):
    model = Glow(TINY)
    x = torch.rand(4, 3, 8, 8)
    model(x)
    _perturb(model, 0.05)
    path = tmp_path / "prior.safetensors"
    save_model(path, model)
    loaded = load_model(path).model
    # A batch with other statistics must not re-initialise actnorm on load.
    other = 5 * torch.rand(4, 3, 8, 8) + 3
    assert torch.equal(loaded.log_prob(other), model.log_prob(other))
    assert loaded.config == model.config


def test_presets():
    assert preset("paper") == GlowConfig(levels=4, depth=18, hidden=512)
    with pytest.raises(ValueError, match="unknown GLOW preset"):
        preset("huge")


def test_saved_files_get_the_umask_permissions_not_the_temporary_files_0600(tmp_path):
    """Checkpoints and images are written to a temporary file and renamed; the result must be
    readable by others as any new file is (mode 0666 & ~umask), for shared runs and installs."""
    import os

    from PIL import Image

    from flowrestore.serialization import atomic_write

    old = os.umask(0o022)
    try:
        save_model(tmp_path / "m.safetensors", Glow(preset("tiny")))
        atomic_write(tmp_path / "x.png", lambda tmp: Image.new("RGB", (2, 2)).save(tmp, format="PNG"))
    finally:
        os.umask(old)
    for name in ("m.safetensors", "x.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644
