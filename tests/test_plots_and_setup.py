import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import plots  # noqa: E402
from helpers.models import VAE, AutoEncoder  # noqa: E402
from helpers.notebook import check_parameters, setup  # noqa: E402
from helpers.train import History  # noqa: E402


def test_image_grid_draws_every_image():
    fig = plots.image_grid(torch.rand(20, 1, 28, 28), nrow=10, title="t")
    (image,) = fig.axes[0].get_images()
    assert image.get_array().shape[:2] == (2 * 30 + 2, 10 * 30 + 2)  # make_grid: 2 px padding
    plt.close(fig)


def test_manifold_decodes_a_grid_over_normal_quantiles():
    values = plots.normal_quantile_grid(5)
    assert torch.allclose(values, -values.flip(0), atol=1e-6) and values[2].abs() < 1e-6
    assert values[-1].item() == pytest.approx(1.6449, abs=1e-3)  # the 95% quantile of N(0, 1)
    fig = plots.manifold(VAE(latent_dim=2, hidden=16), n=5)
    assert fig.axes[0].get_images()[0].get_array().shape[:2] == (5 * 28, 5 * 28)
    plt.close(fig)
    with pytest.raises(ValueError, match="latent_dim=2"):
        plots.manifold(VAE(latent_dim=3, hidden=16))


def test_loss_curves_have_one_panel_per_term():
    h = History()
    for split in (h.train, h.test):
        split.update(loss=[3.0, 2.0], reconstruction=[2.5, 1.5], kl=[0.5, 0.5])
    fig = plots.loss_curves(h)
    assert len(fig.axes) == 3 and all(len(ax.get_lines()) == 2 for ax in fig.axes)
    plt.close(fig)
    h.train["kl"] = h.test["kl"] = [0.0, 0.0]
    fig = plots.loss_curves(h)
    assert len(fig.axes) == 1
    plt.close(fig)


def test_other_figures_draw():
    x = torch.rand(6, 1, 28, 28)
    names = [str(i) for i in range(10)]
    for fig in (plots.reconstructions(x, x), plots.labelled_grid(x, torch.arange(6), names, ncol=3),
                plots.latent_scatter(torch.randn(50, 2), torch.arange(50) % 10, [str(i) for i in range(10)]),
                plots.interpolation(AutoEncoder(2, 16), torch.zeros(2), torch.ones(2), steps=4),
                plots.diagram("vae"), plots.diagram("ae")):
        assert fig.axes
        plt.close(fig)


@pytest.mark.parametrize("name, value, message", [
    ("LATENT_DIM", 0, r"LATENT_DIM=0 is not valid; LATENT_DIM must be an integer >= 1"),
    ("DATASET", "nope", r"DATASET='nope'.*'mnist', 'fashion-mnist'"),
    ("ARCH", "transformer", r"ARCH='transformer'.*'mlp', 'conv'"),
    ("LR", 0.0, r"LR=0.0.*> 0"),
    ("BETA", -1, r"BETA=-1"),
    ("EPOCHS", True, r"EPOCHS=True"),
    ("BINARIZE", "yes", r"'none', 'static', 'dynamic'"),
    ("BETAS", [], r"BETAS=\[\].*list"),
    ("LATENT_DIMS", [2, 0], r"LATENT_DIMS=\[2, 0\]"),
    ("DEVICE", "gpu", r"DEVICE='gpu'.*'auto', 'cpu'"),
    ("EPOCS", 3, r"unknown parameter EPOCS"),
    ("SEED", -1, r"SEED=-1.*from 0 to 4294967295"),
    ("SEEDS", [0, 2**40], r"SEEDS=\[0, 1099511627776\].*list of integers"),
    ("PATIENCE", 0, r"PATIENCE=0.*>= 1"),
    ("FREE_BITS", -1.0, r"FREE_BITS=-1.0.*>= 0"),
])
def test_check_parameters_names_the_parameter_and_valid_values(name, value, message):
    with pytest.raises(ValueError, match=message):
        check_parameters(**{name: value})


def test_good_parameters_pass_and_setup_reports_the_device(capsys):
    given = dict(DATASET="mnist", LATENT_DIM=2, LR=1e-3, BETAS=[0.5, 1], LATENT_DIMS=[2, 5], DEVICE="auto")
    assert check_parameters(**given) == given
    assert setup(0, "cpu") == torch.device("cpu")
    assert "device cpu" in capsys.readouterr().out
