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
    from helpers import widgets

    def failing_fit(*args, **kwargs):
        raise error

    monkeypatch.setattr(widgets, "fit", failing_fit)
    panel = TrainingPanel(VAE, small, epochs=1, hidden=32, device="cpu")
    panel.button.click()
    assert type(error).__name__ in panel.status.value and str(error) in panel.status.value
    assert "Training ..." not in panel.status.value and not panel.button.disabled and not panel.busy
    assert panel.runs == 0 and panel.model is None


def test_training_panel_ignores_clicks_while_it_trains(small, cache_dir, monkeypatch):
    from helpers import widgets
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
