import math

import pytest
import torch
from torch.distributions import Normal

from helpers.models import VAE, AutoEncoder, ConditionalVAE, count_parameters


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


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_the_conditional_vae_takes_the_label_in_both_networks(arch):
    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=3, n_classes=10, hidden=32, arch=arch, channels=(4, 8))
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 9])
    q, z, logits = model(x, y)
    assert q.loc.shape == z.shape == (5, 3) and logits.shape == (5, 1, 28, 28)
    assert not torch.allclose(model.encode(x, y).loc, model.encode(x, (y + 1) % 10).loc)   # the label reaches q
    same_z = torch.zeros(10, 3)
    images = torch.sigmoid(model.decode(same_z, torch.arange(10)))
    assert (images[1:] - images[0]).abs().amax() > 1e-4                                    # and the decoder
    assert model.sample(4, 7).shape == (4, 1, 28, 28) and model.sample(2, torch.tensor([1, 2])).shape[0] == 2
    assert model.config["n_classes"] == 10 and (arch == "mlp") == ("channels" not in model.config)


@pytest.mark.parametrize("call, message", [
    (lambda m: m.encode(torch.rand(2, 1, 28, 28), torch.tensor([0, 10])), r"labels from 0 to 10.*from 0 to 9"),
    (lambda m: m.encode(torch.rand(2, 1, 28, 28), torch.tensor([0.0, 1.0])), r"integer class labels"),
    (lambda m: m.decode(torch.zeros(3, 2), torch.tensor([0, 1])), r"one label per code"),
    (lambda m: m.sample(3, torch.tensor([0, 1])), r"one per image: \(3,\)"),
    (lambda m: ConditionalVAE(2, n_classes=1), r"n_classes=1.*>= 2"),
    (lambda m: VAE(2, 16, "conv", channels=(8,)), r"channels=\(8,\)"),
])
def test_the_conditional_vae_refuses_bad_labels(call, message):
    with pytest.raises(ValueError, match=message):
        call(ConditionalVAE(latent_dim=2, hidden=16))


def test_fit_trains_a_conditional_vae_with_the_labels(small, cache_dir, device):
    import math

    from helpers.train import evaluate, fit
    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=2, hidden=64)
    history = fit(model, small, epochs=2, device=device, progress=False, verbose=False)
    # below the coin flip (every logit 0, q = the prior: 784 log 2 = 543.4 nats) after one epoch, and falling
    assert history.test["loss"][-1] < history.test["loss"][0] < 784 * math.log(2)
    x, y = small.x_test.to(device, torch.float32), small.y_test.to(device)
    right = evaluate(model, x, y=y)["loss"]
    wrong = evaluate(model, x, y=(y + 5) % 10)["loss"]
    assert right < wrong  # the model uses the label: the wrong one explains the images worse


def test_both_vaes_share_the_base_and_say_whether_they_take_labels():
    from helpers.models import BaseVAE
    vae, cvae, ae = VAE(3, 16), ConditionalVAE(3, hidden=16), AutoEncoder(3, 16)
    assert isinstance(vae, BaseVAE) and isinstance(cvae, BaseVAE) and not isinstance(ae, BaseVAE)
    assert (vae.conditional, cvae.conditional, ae.conditional) == (False, True, False)
    assert not isinstance(cvae, VAE)  # a VAE-only check (the training panel's) still refuses it
    for model in (vae, cvae):
        p = model.prior()
        assert model.latent_dim == 3 and torch.equal(p.loc, torch.zeros(3)) and torch.equal(p.scale, torch.ones(3))
    q = BaseVAE.posterior(torch.tensor([[1.0, -2.0, 0.0, math.log(4.0)]]))  # means (1, -2), log-variances (0, log 4)
    assert q.loc.tolist() == [[1.0, -2.0]] and q.scale[0].tolist() == pytest.approx([1.0, 2.0])
