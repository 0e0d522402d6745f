import matplotlib
import matplotlib.text

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import plots  # noqa: E402
from helpers.models import VAE, AutoEncoder  # noqa: E402
from helpers.notebook import check_parameters, setup  # noqa: E402
from helpers.train import History  # noqa: E402


def texts(fig) -> str:
    """Every piece of text on the figure (titles, labels, tick labels, annotations), one line each."""
    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text())


def cell(grid, i, ncol, size=28, padding=2):
    """Image i of a make_grid picture with `ncol` images per row (one channel)."""
    r, c = divmod(i, ncol)
    top, left = padding + r * (size + padding), padding + c * (size + padding)
    return grid[top:top + size, left:left + size, 0]


def test_image_grid_draws_every_image_in_order():
    x = torch.rand(20, 1, 28, 28)
    fig = plots.image_grid(x, nrow=10, title="t")
    (ax,) = fig.axes
    (image,) = ax.get_images()
    grid = image.get_array()
    assert grid.shape[:2] == (2 * 30 + 2, 10 * 30 + 2)  # make_grid: 2 px padding
    for i in (0, 9, 10, 19):  # row by row: image 10 starts the second row
        assert torch.allclose(torch.as_tensor(cell(grid, i, 10)), x[i, 0])
    assert ax.get_title() == "t"
    plt.close(fig)


def test_manifold_decodes_a_grid_over_normal_quantiles():
    values = plots.normal_quantile_grid(5)
    assert torch.allclose(values, -values.flip(0), atol=1e-6) and values[2].abs() < 1e-6
    assert values[-1].item() == pytest.approx(1.6449, abs=1e-3)  # the 95% quantile of N(0, 1)
    model = VAE(latent_dim=2, hidden=16)
    fig = plots.manifold(model, n=5)
    (ax,) = fig.axes
    grid = ax.get_images()[0].get_array()
    assert grid.shape[:2] == (5 * 28, 5 * 28)
    with torch.no_grad():  # top left is (low z_1, high z_2), as on a plot's axes
        corner = torch.sigmoid(model.decode(torch.stack([values[0], values[-1]])[None]))[0, 0]
    assert torch.allclose(torch.as_tensor(grid[:28, :28, 0]), corner, atol=1e-6)
    assert "$z_1$" in ax.get_xlabel() and ax.get_ylabel() == "$z_2$" and ax.get_title() == "decoded manifold"
    plt.close(fig)
    with pytest.raises(ValueError, match="latent_dim=2"):
        plots.manifold(VAE(latent_dim=3, hidden=16))


def test_loss_curves_have_one_panel_per_term():
    h = History()
    for split in (h.train, h.test):
        split.update(loss=[3.0, 2.0], reconstruction=[2.5, 1.5], kl=[0.5, 0.5])
    fig = plots.loss_curves(h, title="the run")
    assert len(fig.axes) == 3 and all(len(ax.get_lines()) == 2 for ax in fig.axes)
    assert [ax.get_title() for ax in fig.axes] == ["loss = reconstruction + KL", "reconstruction  -log p(x|z)",
                                                   "KL(q(z|x) || p(z))"]
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "nats per image"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    assert fig.axes[0].get_lines()[0].get_ydata().tolist() == [3.0, 2.0]      # train loss, in its panel
    assert fig.axes[2].get_lines()[1].get_ydata().tolist() == [0.5, 0.5]      # test KL, in its panel
    assert "the run" in texts(fig)
    plt.close(fig)
    h.best_epoch = 1
    fig = plots.loss_curves(h, beta=4)
    assert "β·KL" in fig.axes[0].get_title() and "best epoch (1)" in texts(fig)  # the epoch kept, marked
    plt.close(fig)
    h.train["kl"] = h.test["kl"] = [0.0, 0.0]  # an autoencoder: the reconstruction only
    fig = plots.loss_curves(h)
    assert len(fig.axes) == 1 and fig.axes[0].get_title().startswith("reconstruction")
    plt.close(fig)


def test_reconstructions_put_originals_above_their_reconstructions():
    x, r = torch.rand(6, 1, 28, 28), torch.rand(6, 1, 28, 28)
    fig = plots.reconstructions(x, r, title="AE")
    top, bottom = fig.axes
    assert top.get_title() == "AE\noriginals x" and bottom.get_title() == "reconstructions"
    for ax, images in ((top, x), (bottom, r)):
        (image,) = ax.get_images()
        assert image.get_array().shape[:2] == (30 + 2, 6 * 30 + 2)  # one row of six
        assert torch.allclose(torch.as_tensor(cell(image.get_array(), 5, 6)), images[5, 0])
    plt.close(fig)


def test_labelled_grid_titles_each_image_with_its_class():
    x, labels = torch.rand(5, 1, 28, 28), torch.tensor([3, 1, 4, 1, 5])
    names = [f"class {i}" for i in range(10)]
    fig = plots.labelled_grid(x, labels, names, ncol=3, title="five")
    assert len(fig.axes) == 6  # 2 rows of 3; the sixth panel is empty
    drawn = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in drawn] == ["class 3", "class 1", "class 4", "class 1", "class 5"]
    assert torch.allclose(torch.as_tensor(drawn[2].get_images()[0].get_array()), x[2, 0])
    assert fig._suptitle.get_text() == "five"
    plt.close(fig)


def test_latent_scatter_shows_every_code_with_its_class():
    z, labels = torch.randn(50, 2), torch.arange(50) % 10
    names = [f"c{i}" for i in range(10)]
    fig = plots.latent_scatter(z, labels, names)
    ax, colorbar = fig.axes
    (points,) = ax.collections
    assert torch.allclose(torch.as_tensor(points.get_offsets(), dtype=torch.float32), z)
    assert points.get_array().tolist() == labels.tolist()
    assert [t.get_text() for t in colorbar.get_yticklabels()] == names  # the colour key names the classes
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("$z_1$", "$z_2$", "latent space")
    plt.close(fig)


def test_interpolation_runs_from_the_first_code_to_the_second():
    model = AutoEncoder(2, 16)
    a, b = torch.zeros(2), torch.ones(2)
    fig = plots.interpolation(model, a, b, steps=4)
    (image,) = fig.axes[0].get_images()
    grid = image.get_array()
    assert grid.shape[:2] == (30 + 2, 4 * 30 + 2)
    with torch.no_grad():
        ends = torch.sigmoid(model.decode(torch.stack([a, b])))[:, 0]
    assert torch.allclose(torch.as_tensor(cell(grid, 0, 4)), ends[0], atol=1e-6)
    assert torch.allclose(torch.as_tensor(cell(grid, 3, 4)), ends[1], atol=1e-6)
    plt.close(fig)


@pytest.mark.parametrize("kind, parts", [("ae", ["encoder", "decoder", "code $z$", "$x$", r"$\hat{x}$"]),
                                         ("vae", ["encoder", r"$q_\phi(z|x)$", r"$p_\theta(x|z)$", r"$\mu$",
                                                  r"$\sigma$", r"$z = \mu + \sigma \odot \epsilon$"])])
def test_the_diagram_names_every_part(kind, parts):
    fig = plots.diagram(kind)
    shown = texts(fig)
    assert all(part in shown for part in parts), [part for part in parts if part not in shown]
    assert ("mean and a standard deviation" in shown) == (kind == "vae")
    plt.close(fig)
    with pytest.raises(ValueError, match="kind='gan'.*'ae' or 'vae'"):
        plots.diagram("gan")


@pytest.mark.parametrize("name, value, message", [
    ("LATENT_DIM", 0, r"LATENT_DIM=0 is not valid; LATENT_DIM must be an integer >= 1"),
    ("DATASET", "nope", r"DATASET='nope'.*'mnist', 'fashion-mnist'"),
    ("ARCH", "transformer", r"ARCH='transformer'.*'mlp', 'conv'"),
    ("LR", 0.0, r"LR=0.0.*> 0"),
    ("LR_WARMUP_EPOCHS", -1, r"LR_WARMUP_EPOCHS=-1.*>= 0"),
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
