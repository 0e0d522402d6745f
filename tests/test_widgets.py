import pytest
import torch

from helpers.models import VAE, AutoEncoder
from helpers.train import set_seed
from helpers.widgets import LatentExplorer, TrainingPanel, png_bytes


def test_png_bytes_is_a_png_of_the_enlarged_grid():
    png = png_bytes(torch.rand(4, 1, 28, 28), nrow=2, scale=3)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (3 * (2 * 30 + 2), 3 * (2 * 30 + 2))


def test_latent_explorer_redraws_when_a_slider_moves():
    set_seed(0)
    explorer = LatentExplorer(VAE(latent_dim=3, hidden=32), z_range=2.0)
    assert len(explorer.sliders) == 3 and explorer.sliders[0].max == 2.0
    before = explorer.image.value
    assert before[:4] == b"\x89PNG"
    explorer.sliders[1].value = 1.5
    assert explorer.z.tolist() == [[0.0, 1.5, 0.0]]
    assert explorer.image.value != before
    explorer.sliders[1].value = 0.0
    assert explorer.image.value == before  # the same code decodes to the same image
    assert "application/vnd.jupyter.widget-view+json" in explorer._repr_mimebundle_()[0]


def test_latent_explorer_starts_at_a_given_code():
    explorer = LatentExplorer(AutoEncoder(latent_dim=2, hidden=32), initial=torch.tensor([0.5, -1.0]))
    assert [s.value for s in explorer.sliders] == [0.5, -1.0]


def test_training_panel_retrains_with_the_slider_settings(small, cache_dir):
    panel = TrainingPanel(VAE, small, latent_dim=2, epochs=1, beta=1.0, hidden=32, device="cpu")
    assert panel.history is None and panel.image.value == b""
    panel.button.click()
    assert panel.runs == 1 and panel.model.latent_dim == 2
    first_image, first_status = panel.image.value, panel.status.value
    assert first_image[:4] == b"\x89PNG" and "test loss" in first_status
    panel.latent_dim.value, panel.beta.value = 4, 2.0
    panel.button.click()
    assert panel.runs == 2 and panel.model.latent_dim == 4
    assert "beta=2" in panel.status.value and panel.image.value != first_image
    assert not panel.button.disabled
    panel.latent_dim.value, panel.beta.value = 2, 1.0
    panel.button.click()
    assert panel.history.from_cache and "loaded from the cache" in panel.status.value


@pytest.mark.parametrize("error", [RuntimeError("CUDA out of memory"), OSError("cache folder is read-only"),
                                   ValueError("lr=1 is not valid")])
def test_training_panel_shows_any_error_and_is_ready_again(error, small, cache_dir, monkeypatch):
    from helpers.widgets import training_panel as widgets

    def failing_fit(*args, **kwargs):
        raise error

    monkeypatch.setattr(widgets, "fit", failing_fit)
    panel = TrainingPanel(VAE, small, epochs=1, hidden=32, device="cpu")
    panel.button.click()
    assert type(error).__name__ in panel.status.value and str(error) in panel.status.value
    assert "Training ..." not in panel.status.value and not panel.button.disabled and not panel.busy
    assert panel.runs == 0 and panel.model is None


def test_training_panel_ignores_clicks_while_it_trains(small, cache_dir, monkeypatch):
    from helpers.widgets import training_panel as widgets
    calls = []
    real_fit = widgets.fit

    def fit_that_gets_clicked(*args, **kwargs):
        calls.append(1)
        panel.button.click()  # a second click while training: must be ignored
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(widgets, "fit", fit_that_gets_clicked)
    panel = TrainingPanel(VAE, small, epochs=1, hidden=32, device="cpu")
    panel.button.click()
    assert calls == [1] and panel.runs == 1 and "test loss" in panel.status.value


def test_training_panel_for_the_autoencoder_has_no_beta(small, cache_dir):
    panel = TrainingPanel(AutoEncoder, small, epochs=1, hidden=32, device="cpu")
    assert panel.beta is None and "beta" not in panel.settings()
    panel.button.click()
    assert panel.runs == 1 and isinstance(panel.model, AutoEncoder)


def test_training_panel_refuses_other_models(small):
    with pytest.raises(ValueError, match="AutoEncoder or helpers.models.VAE"):
        TrainingPanel(torch.nn.Linear, small)


def test_a_page_without_widgets_gets_text_and_the_picture():
    explorer = LatentExplorer(VAE(latent_dim=2, hidden=16))
    bundle, metadata = explorer._repr_mimebundle_()
    assert bundle["text/plain"].startswith("Latent explorer: 2 sliders at z = (0.00, 0.00)")
    import base64
    assert base64.b64decode(bundle["image/png"]) == explorer.image.value
    assert metadata["image/png"]["alt"].endswith(bundle["text/plain"])
    assert "application/vnd.jupyter.widget-view+json" in bundle


def linear_gaussian():
    """A 2-D linear-Gaussian latent model with its exact log p(x), posterior and ELBO (notebook 03)."""
    import math

    from torch.distributions import MultivariateNormal, kl_divergence
    g = torch.Generator().manual_seed(0)
    d, D, s = 2, 5, 0.5
    W, b = torch.randn(D, d, generator=g, dtype=torch.float64), torch.randn(D, generator=g, dtype=torch.float64)
    x = W @ torch.randn(d, generator=g, dtype=torch.float64) + b
    log_px = MultivariateNormal(b, W @ W.T + s ** 2 * torch.eye(D, dtype=torch.float64)).log_prob(x)
    S = torch.linalg.inv(torch.eye(d, dtype=torch.float64) + W.T @ W / s ** 2)
    posterior = MultivariateNormal(S @ W.T @ (x - b) / s ** 2, S)
    standard = MultivariateNormal(torch.zeros(d, dtype=torch.float64), torch.eye(d, dtype=torch.float64))

    def elbo(mean, cov):
        r = x - W @ mean - b
        return (-0.5 * D * math.log(2 * math.pi * s ** 2) - (r @ r + torch.trace(W @ cov @ W.T)) / (2 * s ** 2)
                - kl_divergence(MultivariateNormal(mean, cov), standard))
    return elbo, log_px.item(), posterior


def test_the_elbo_playground_always_adds_up_and_redraws():
    from helpers.widgets import ELBOPlayground
    elbo, log_px, posterior = linear_gaussian()
    playground = ELBOPlayground(elbo, log_px, posterior)
    first_image, first = playground.image.value, dict(playground.values)
    assert first_image[:4] == b"\x89PNG" and first["kl"] > 1
    assert first["elbo"] + first["kl"] == pytest.approx(log_px, abs=1e-9)
    for slider, value in zip(playground.sliders, [*posterior.loc.tolist(), *(0.5 * posterior.covariance_matrix
                                                                              .diagonal().log()).tolist()]):
        slider.value = round(value / 0.05) * 0.05  # on the sliders' grid
    moved = playground.values
    assert moved["elbo"] + moved["kl"] == pytest.approx(log_px, abs=1e-9)
    assert moved["kl"] < first["kl"] and moved["elbo"] > first["elbo"] and playground.image.value != first_image
    assert "ELBO + KL" in playground.readout.value and f"{log_px:.3f}" in playground.readout.value
    assert playground.describe().startswith(f"ELBO playground: log p(x) = {log_px:.3f}")
    with pytest.raises(ValueError, match="2-D MultivariateNormal"):
        from torch.distributions import MultivariateNormal
        ELBOPlayground(elbo, log_px, MultivariateNormal(torch.zeros(3), torch.eye(3)))


def test_the_model_browser_shows_the_chosen_model_and_says_when_one_was_not_trained():
    from helpers.widgets import ModelBrowser
    models = {}
    for key in ((1.0, 2), (4.0, 2), (1.0, 4)):
        set_seed(int(key[0] + key[1]))
        models[key] = VAE(latent_dim=key[1], hidden=16)
    numbers = {k: {"NLL": 100.0 + k[0], "active units": k[1]} for k in models}
    browser = ModelBrowser(models, numbers, torch.rand(4, 1, 28, 28), initial=(1.0, 2))
    first = browser.image.value
    assert first[:4] == b"\x89PNG" and "101" in browser.table.value
    browser.beta.value = 4.0
    assert browser.image.value != first and "104" in browser.table.value
    browser.latent_dim.value = 4  # beta 4 with a 4-D code was not trained
    assert browser.image.value == b"" and "Not trained" in browser.table.value
    browser.beta.value = 1.0
    assert browser.image.value[:4] == b"\x89PNG" and "active units" in browser.table.value
    assert browser.describe().startswith("Model browser: beta = 1, latent dim 4")
    with pytest.raises(ValueError, match="same"):
        ModelBrowser(models, {}, torch.rand(2, 1, 28, 28))


def test_the_conditional_explorer_draws_the_class_and_takes_a_style():
    from helpers.models import ConditionalVAE
    from helpers.widgets import ConditionalExplorer
    set_seed(0)
    model = ConditionalVAE(latent_dim=3, hidden=32)
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([0, 3, 5, 9])
    explorer = ConditionalExplorer(model, [str(i) for i in range(10)], images, labels)
    first = explorer.image.value
    explorer.label.value = 7
    assert explorer.image.value != first and "class 7" in explorer.describe()
    explorer.style.value = 2                                  # the style of test image 2 (a 5)
    expected = model.encode(images[2:3], labels[2:3]).loc[0]
    assert torch.allclose(explorer.z[0], expected, atol=0.03) and explorer.source.value[:4] == b"\x89PNG"
    styled = explorer.image.value
    explorer.sliders[0].value = explorer.sliders[0].value + 0.5
    assert explorer.image.value != styled
    with pytest.raises(ValueError, match="conditional VAE"):
        ConditionalExplorer(VAE(2, 16), ["a"], images, labels)


def test_each_widget_module_names_the_notebooks_that_use_it():
    """helpers/widgets/ is one module per widget; its docstring says which notebooks use it."""
    import importlib
    import re
    from pathlib import Path

    import nbformat

    used: dict[str, set[str]] = {}
    for path in sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for names in re.findall(r"from helpers\.widgets import ([\w, ]+)", cell.source if cell.cell_type == "code"
                                    else ""):
                for name in names.replace(" ", "").split(","):
                    used.setdefault(name, set()).add(path.name[:2])
    assert used, "no notebook imports a widget"
    widgets = importlib.import_module("helpers.widgets")
    for name, notebooks in used.items():
        module = importlib.import_module(getattr(widgets, name).__module__)
        assert module.__name__ != "helpers.widgets" and module.__doc__, name
        said = set(re.findall(r"\b0[1-5]\b", module.__doc__.split("\n\n")[1] if "\n\n" in module.__doc__ else ""))
        assert notebooks <= said, f"{module.__name__} is used by {sorted(notebooks)}; its docstring says {said}"
