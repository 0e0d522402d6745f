"""`TrainingPanel`: sliders for the hyperparameters and a Train button that retrains the model.

Used in notebooks 01 (an `AutoEncoder`) and 02 (a `VAE`).
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch

from helpers.models import VAE, AutoEncoder
from helpers.train import fit, set_seed
from helpers.widgets.display import Displayable, png_bytes


class TrainingPanel(Displayable):
    """Sliders for the hyperparameters and a Train button that retrains and shows the result.

    For an AutoEncoder it shows reconstructions of test images; for a VAE, samples from the
    prior as well. Training reuses `helpers.train.fit`, cache included: a setting tried before
    loads instantly.
    """

    def __init__(self, model_class: type, data, *, latent_dim: int = 2, epochs: int = 5, lr: float = 1e-3,
                 beta: float | None = None, hidden=512, arch: str = "mlp", batch_size: int = 128,
                 binarize_mode: str = "none", seed: int = 0, device: str = "auto", max_epochs: int = 50):
        if model_class not in (AutoEncoder, VAE):
            raise ValueError("model_class must be helpers.models.AutoEncoder or helpers.models.VAE")
        self.model_class, self.data = model_class, data
        self.fixed = dict(hidden=hidden, arch=arch, batch_size=batch_size, binarize_mode=binarize_mode,
                          seed=seed, device=device)
        def wide():  # a Layout per slider: a shared one would tie their layouts together
            return {"style": {"description_width": "110px"}, "layout": widgets.Layout(width="420px")}

        self.latent_dim = widgets.IntSlider(value=latent_dim, min=1, max=32, description="latent dim", **wide())
        self.epochs = widgets.IntSlider(value=epochs, min=1, max=max(max_epochs, epochs), description="epochs",
                                        **wide())
        self.lr = widgets.FloatLogSlider(value=lr, base=10, min=-4, max=-1, step=0.25, description="learning rate",
                                         readout_format=".1e", **wide())
        self.beta = (widgets.FloatSlider(value=beta, min=0.0, max=8.0, step=0.25, description="β (KL weight)",
                                         **wide()) if beta is not None else None)
        self.button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.status = widgets.HTML("Move the sliders, then press <b>Train</b>.")
        self.image = widgets.Image(format="png")
        self.progress = widgets.Output()
        self.model, self.history, self.runs, self.busy = None, None, 0, False
        self.button.on_click(self.train)
        controls = [self.latent_dim, self.epochs, self.lr] + ([self.beta] if self.beta else [])
        self.widget = widgets.VBox([widgets.HBox([widgets.VBox(controls), self.button]),
                                    self.progress, self.status, self.image])

    def describe(self) -> str:
        settings = ", ".join(f"{k}={v:g}" for k, v in self.settings().items())
        return f"Training panel ({self.model_class.__name__}): {settings}; run the notebook and press Train."

    def settings(self) -> dict:
        s = {"latent_dim": self.latent_dim.value, "epochs": self.epochs.value, "lr": self.lr.value}
        if self.beta is not None:
            s["beta"] = self.beta.value
        return s

    def train(self, _button=None) -> None:
        """Train with the sliders' settings and show the result; any error is shown in the panel.
        A click while a training runs is ignored."""
        if self.busy:
            return
        s = self.settings()
        self.busy, self.button.disabled = True, True
        self.status.value = "Training ..."
        try:
            self.progress.clear_output()
            with self.progress:
                set_seed(self.fixed["seed"])
                model = self.model_class(s["latent_dim"], self.fixed["hidden"], self.fixed["arch"])
                history = fit(model, self.data, epochs=s["epochs"], lr=s["lr"], beta=s.get("beta", 1.0),
                              batch_size=self.fixed["batch_size"], binarize_mode=self.fixed["binarize_mode"],
                              seed=self.fixed["seed"], device=self.fixed["device"], verbose=False)
        except Exception as err:  # divergence, bad settings, out of memory, an unwritable cache ...
            self.status.value = (f"<span style='color:#b00'>{type(err).__name__}: {html.escape(str(err))}</span>")
            return
        except KeyboardInterrupt:
            self.status.value = "<span style='color:#b00'>Interrupted: the previous result is still shown.</span>"
            return
        finally:
            self.busy, self.button.disabled = False, False
        self.model, self.history, self.runs = model, history, self.runs + 1
        self.image.value = png_bytes(self._result_images(model), nrow=10, scale=2)
        cached = " (loaded from the cache)" if history.from_cache else ""
        settings = ", ".join(f"{k}={v:g}" for k, v in s.items())
        self.status.value = (f"{settings}: test loss <b>{history.test['loss'][-1]:.2f}</b> nats/image, "
                             f"KL {history.test['kl'][-1]:.2f}{cached}. Top: test images; middle: "
                             "reconstructions" + ("; bottom: samples from p(z)." if self.model_class is VAE else "."))

    @torch.no_grad()
    def _result_images(self, model) -> torch.Tensor:
        device = next(model.parameters()).device
        x_test = self.data.x_test
        x = x_test[:: max(1, len(x_test) // 10)][:10].to(device)  # spread over the (class-sorted) test set
        recon = torch.sigmoid(model(x)[-1] if isinstance(model, VAE) else model(x))
        rows = [x, recon]
        if isinstance(model, VAE):
            rows.append(model.sample(10, torch.Generator().manual_seed(0)))
        return torch.cat([r.cpu() for r in rows])
