import pytest
import torch
from torch.distributions import Normal

from helpers.models import VAE, AutoEncoder, count_parameters


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_shapes(arch):
    x = torch.rand(5, 1, 28, 28)
    ae = AutoEncoder(latent_dim=3, hidden=64, arch=arch)
    assert ae.encode(x).shape == (5, 3) and ae(x).shape == (5, 1, 28, 28)
    vae = VAE(latent_dim=7, hidden=(64, 32), arch=arch)
    q, z, logits = vae(x)
    assert isinstance(q, Normal) and q.loc.shape == (5, 7) and torch.all(q.scale > 0)
    assert z.shape == (5, 7) and logits.shape == (5, 1, 28, 28)
    assert vae.sample(4).shape == (4, 1, 28, 28)
    samples = vae.sample(4)
    assert samples.min() >= 0 and samples.max() <= 1


def test_784_400_20_matches_the_pytorch_examples_vae():
    # fc1 784->400, fc21/fc22 400->20, fc3 20->400, fc4 400->784
    expected = (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784)
    assert count_parameters(VAE(latent_dim=20, hidden=400)) == expected == 652_824


def test_numpy_integers_are_accepted():
    import numpy as np
    vae = VAE(latent_dim=np.int64(3), hidden=np.int64(16))
    assert vae.latent_dim == 3 and type(vae.latent_dim) is int and vae.sample(2).shape == (2, 1, 28, 28)


def test_a_diverged_encoder_is_not_stopped_by_validation():
    vae = VAE(latent_dim=2, hidden=16)
    with torch.no_grad():
        vae.encoder[-1].bias.fill_(-500.0)  # log-variance -500: sigma underflows to 0
    q = vae.encode(torch.rand(3, 1, 28, 28))  # torch.distributions would refuse scale=0 by default
    assert torch.all(q.scale == 0)


def test_sample_is_reproducible_with_a_generator():
    vae = VAE(latent_dim=2, hidden=32)
    a = vae.sample(3, torch.Generator().manual_seed(5))
    b = vae.sample(3, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs, message", [
    ({"latent_dim": 0}, r"latent_dim=0.*>= 1"),
    ({"latent_dim": 2.5}, r"latent_dim=2.5"),
    ({"arch": "transformer"}, r"arch='transformer'.*'mlp', 'conv'"),
    ({"hidden": 0}, r"hidden=0"),
    ({"hidden": []}, r"hidden=\[\]"),
    ({"hidden": True}, r"hidden=True"),
    ({"hidden": [64, False]}, r"hidden=\[64, False\]"),
    ({"latent_dim": True}, r"latent_dim=True"),
])
@pytest.mark.parametrize("cls", [AutoEncoder, VAE])
def test_bad_arguments_name_the_parameter(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
