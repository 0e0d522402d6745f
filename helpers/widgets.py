"""Interactive widgets (ipywidgets): explore a latent space, retrain with other settings, move
an approximate posterior and watch the ELBO.

Used in notebooks 01, 02 (`LatentExplorer`, `TrainingPanel`) and 03 (`ELBOPlayground`). They do
nothing until a person acts: when a notebook runs headless (papermill, nbval) they are built at
the notebook's parameter values and shown, and no training is started. Tests drive them from
Python (set a slider's ``.value``, call ``.button.click()``) and check what they show.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable

import ipywidgets as widgets
import torch
from torch.distributions import MultivariateNormal, kl_divergence
from torchvision.utils import make_grid, save_image

from helpers.models import VAE, AutoEncoder
from helpers.train import fit, set_seed


def png_bytes(images: torch.Tensor, nrow: int = 8, scale: int = 4) -> bytes:
    """Images (N, 1, 28, 28) in [0, 1] as one PNG grid, enlarged `scale` times without blurring."""
    grid = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    grid = grid.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    buffer = io.BytesIO()
    save_image(grid, buffer, format="png")
    return buffer.getvalue()


class _Displayable:
    """Shows as the live widget in Jupyter; a page that cannot run widgets (a notebook viewed on
    the web) shows the fallback instead: a line of text and the current picture."""

    widget: widgets.Widget
    image: widgets.Image

    def describe(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        bundle = dict(self.widget._repr_mimebundle_(**kwargs))
        bundle["text/plain"] = self.describe()
        if not self.image.value:
            return bundle
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        return bundle, {"image/png": {"alt": f"The picture this widget shows now. {self.describe()}"}}


class LatentExplorer(_Displayable):
    """One slider per latent dimension; the decoded image updates as a slider moves."""

    def __init__(self, model, z_range: float = 3.0, initial: torch.Tensor | None = None, step: float = 0.05):
        self.model = model
        start = initial.tolist() if initial is not None else [0.0] * model.latent_dim
        self.sliders = [widgets.FloatSlider(value=v, min=-z_range, max=z_range, step=step,
                                            description=f"z{i + 1}", continuous_update=True,
                                            layout=widgets.Layout(width="320px"))
                        for i, v in enumerate(start)]
        self.image = widgets.Image(format="png", width=196, height=196)
        for slider in self.sliders:
            slider.observe(self.update, names="value")
        self.update()
        self.widget = widgets.HBox([widgets.VBox(self.sliders), self.image])

    def describe(self) -> str:
        z = ", ".join(f"{s.value:.2f}" for s in self.sliders)
        return f"Latent explorer: {len(self.sliders)} sliders at z = ({z}); run the notebook to move them."

    @property
    def z(self) -> torch.Tensor:
        return torch.tensor([[s.value for s in self.sliders]])

    @torch.no_grad()
    def update(self, change=None) -> None:
        device = next(self.model.parameters()).device
        image = torch.sigmoid(self.model.decode(self.z.to(device)))
        self.image.value = png_bytes(image, nrow=1, scale=7)


class TrainingPanel(_Displayable):
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


class ELBOPlayground(_Displayable):
    """An approximate posterior q = N(mu, diag(sigma^2)) with four sliders (the two means and the
    two log standard deviations) over a 2-D latent model whose log p(x) and posterior p(z|x) are
    exact. As a slider moves, it shows log p(x), ELBO(q) and KL(q || p(z|x)), which always add up
    (log p(x) = ELBO(q) + KL), and draws q over the true posterior.

    `elbo(mean, covariance)` computes the exact ELBO of a Gaussian q (notebook 03 writes it out).
    """

    def __init__(self, elbo: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], log_px: float,
                 posterior: MultivariateNormal, mean=(2.0, -2.0), log_sd=(0.0, 0.0), extent: float = 4.0):
        if posterior.event_shape != (2,):
            raise ValueError("posterior must be a 2-D MultivariateNormal, not event shape "
                             f"{tuple(posterior.event_shape)}")
        self.elbo_fn, self.log_px, self.posterior, self.extent = elbo, float(log_px), posterior, extent

        def slider(description, value, low, high):
            return widgets.FloatSlider(value=value, min=low, max=high, step=0.05, description=description,
                                       continuous_update=True, layout=widgets.Layout(width="320px"))

        self.sliders = [slider("mean z1", mean[0], -extent, extent), slider("mean z2", mean[1], -extent, extent),
                        slider("log sd z1", log_sd[0], -3.0, 1.0), slider("log sd z2", log_sd[1], -3.0, 1.0)]
        self.readout = widgets.HTML()
        self.image = widgets.Image(format="png", width=380, height=380)
        self.values: dict[str, float] = {}
        for s in self.sliders:
            s.observe(self.update, names="value")
        self.update()
        self.widget = widgets.HBox([widgets.VBox([*self.sliders, self.readout]), self.image])

    def q(self) -> MultivariateNormal:
        mean = torch.tensor([self.sliders[0].value, self.sliders[1].value], dtype=self.posterior.loc.dtype)
        var = torch.tensor([self.sliders[2].value, self.sliders[3].value], dtype=self.posterior.loc.dtype).mul(2).exp()
        return MultivariateNormal(mean, torch.diag(var))

    def describe(self) -> str:
        v = self.values
        return (f"ELBO playground: log p(x) = {v['log_px']:.3f} = ELBO(q) {v['elbo']:.3f} + KL(q || p(z|x)) "
                f"{v['kl']:.3f}; run the notebook to move q.")

    def update(self, change=None) -> None:
        q = self.q()
        with torch.no_grad():
            elbo = float(self.elbo_fn(q.loc, q.covariance_matrix))
            kl = float(kl_divergence(q, self.posterior))
        self.values = {"log_px": self.log_px, "elbo": elbo, "kl": kl}
        self.readout.value = (f"<b>log p(x)</b> = {self.log_px:.3f}<br><b>ELBO(q)</b> = {elbo:.3f}<br>"
                              f"<b>KL(q || p(z|x))</b> = {kl:.3f}<br>ELBO + KL = {elbo + kl:.3f}")
        self.image.value = self._picture(q)

    def _picture(self, q: MultivariateNormal) -> bytes:
        from matplotlib.figure import Figure  # not pyplot: nothing is registered, nothing to close
        from matplotlib.patches import Ellipse

        fig = Figure(figsize=(3.8, 3.8), dpi=100)
        ax = fig.add_subplot()
        grid = torch.linspace(-self.extent, self.extent, 121, dtype=self.posterior.loc.dtype)
        zz = torch.stack(torch.meshgrid(grid, grid, indexing="xy"), -1)
        ax.contourf(grid, grid, self.posterior.log_prob(zz).exp(), levels=12, cmap="Blues")
        for k, alpha in ((1, 1.0), (2, 0.5)):  # q's 1- and 2-standard-deviation ellipses
            sd = q.covariance_matrix.diagonal().sqrt()
            ax.add_patch(Ellipse(q.loc.tolist(), 2 * k * sd[0].item(), 2 * k * sd[1].item(), fill=False,
                                 edgecolor="tab:red", linewidth=2, alpha=alpha))
        ax.plot(*q.loc.tolist(), "x", color="tab:red")
        ax.set_xlim(-self.extent, self.extent)
        ax.set_ylim(-self.extent, self.extent)
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        ax.set_title("p(z|x) (blue) and q (red)", fontsize=10)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()


class ModelBrowser(_Displayable):
    """Pick a trained model by its KL weight beta and its latent size; see its reconstructions of
    a few test images, samples from its prior, and its row of numbers. No training: it shows
    models that were trained before (notebook 04's sweeps), and says so for a combination that
    was not trained."""

    def __init__(self, models: dict[tuple[float, int], torch.nn.Module], numbers: dict[tuple[float, int], dict],
                 images: torch.Tensor, initial: tuple[float, int] | None = None, samples: int = 8, seed: int = 0):
        if not models or set(models) != set(numbers):
            raise ValueError("models and numbers must be non-empty dicts with the same (beta, latent_dim) keys")
        self.models, self.numbers, self.images = models, numbers, images
        self.samples, self.seed = samples, seed
        betas = sorted({b for b, _ in models})
        dims = sorted({d for _, d in models})
        start = initial if initial in models else next(iter(models))
        self.beta = widgets.Dropdown(options=[(f"{b:g}", b) for b in betas], value=start[0], description="β")
        self.latent_dim = widgets.Dropdown(options=dims, value=start[1], description="latent dim")
        self.table = widgets.HTML()
        self.image = widgets.Image(format="png")
        for w in (self.beta, self.latent_dim):
            w.observe(self.update, names="value")
        self.update()
        self.widget = widgets.VBox([widgets.HBox([self.beta, self.latent_dim]), self.table, self.image])

    @property
    def key(self) -> tuple[float, int]:
        return self.beta.value, self.latent_dim.value

    def describe(self) -> str:
        b, d = self.key
        return (f"Model browser: beta = {b:g}, latent dim {d}: {len(self.images)} test images beside their "
                f"reconstructions, then {self.samples} samples from the prior; run the notebook to pick another model.")

    @torch.no_grad()
    def update(self, change=None) -> None:
        if self.key not in self.models:
            trained = ", ".join(f"β={b:g} with {d}-D" for b, d in self.models)
            self.table.value = f"<i>Not trained in this notebook. Trained: {html.escape(trained)}.</i>"
            self.image.value = b""
            return
        model = self.models[self.key]
        device = next(model.parameters()).device
        x = self.images.to(device)
        recon = torch.sigmoid(model.decode(model.encode(x).loc))
        pairs = torch.stack([x, recon], 1).flatten(0, 1)           # true | reconstructed, side by side
        prior = model.sample(self.samples, torch.Generator().manual_seed(self.seed))
        self.image.value = png_bytes(torch.cat([pairs.cpu(), prior.cpu()]), nrow=2 * len(x) // 2, scale=2)
        cells = "".join(f"<th style='padding:2px 8px'>{html.escape(k)}</th>" for k in self.numbers[self.key])
        values = "".join(f"<td style='padding:2px 8px'>{v:.4g}</td>" if isinstance(v, float) else
                         f"<td style='padding:2px 8px'>{html.escape(str(v))}</td>"
                         for v in self.numbers[self.key].values())
        self.table.value = (f"<table><tr>{cells}</tr><tr>{values}</tr></table>Top rows: test images and their "
                            "reconstructions, in pairs; last row: samples from the prior (mean images).")


class ConditionalExplorer(_Displayable):
    """A conditional VAE's decoder, live: choose the class, move one slider per latent dimension,
    or take the style of a test image (its code under its own label). Notebook 05."""

    def __init__(self, model, class_names: list[str], images: torch.Tensor, labels: torch.Tensor,
                 z_range: float = 3.0, step: float = 0.05):
        if not getattr(model, "conditional", False):
            raise ValueError("model must be a conditional VAE (helpers.models.ConditionalVAE)")
        if len(images) != len(labels) or not len(images):
            raise ValueError("images and labels must be non-empty and of the same length")
        self.model, self.class_names, self.images, self.labels = model, class_names, images, labels
        self.label = widgets.Dropdown(options=[(name, i) for i, name in enumerate(class_names)], value=0,
                                      description="class")
        self.style = widgets.Dropdown(options=[("(sliders)", -1)] + [(f"test image {i}: {class_names[int(y)]}", i)
                                                                       for i, y in enumerate(labels.tolist())],
                                      value=-1, description="style of")
        self.sliders = [widgets.FloatSlider(value=0.0, min=-z_range, max=z_range, step=step, description=f"z{i + 1}",
                                            continuous_update=True, layout=widgets.Layout(width="300px"))
                        for i in range(model.latent_dim)]
        self.image = widgets.Image(format="png", width=168, height=168)
        self.source = widgets.Image(format="png", width=84, height=84)
        self._moving = False
        self.label.observe(self.update, names="value")
        self.style.observe(self.take_style, names="value")
        for s in self.sliders:
            s.observe(self.update, names="value")
        self.update()
        self.widget = widgets.HBox([widgets.VBox([self.label, self.style, *self.sliders]),
                                    widgets.VBox([self.image, self.source])])

    @property
    def z(self) -> torch.Tensor:
        return torch.tensor([[s.value for s in self.sliders]])

    def describe(self) -> str:
        return (f"Conditional explorer: class {self.class_names[self.label.value]}, "
                f"z = ({', '.join(f'{s.value:.2f}' for s in self.sliders)}); run the notebook to move it.")

    @torch.no_grad()
    def take_style(self, change=None) -> None:
        """Set the sliders to the posterior mean of the chosen test image (under its own label)."""
        i = self.style.value
        if i < 0:
            self.source.value = b""
            return
        device = next(self.model.parameters()).device
        mean = self.model.encode(self.images[i:i + 1].to(device), self.labels[i:i + 1].to(device)).loc[0].cpu()
        self._moving = True
        try:
            for slider, value in zip(self.sliders, mean.tolist()):
                slider.value = max(slider.min, min(slider.max, round(value / slider.step) * slider.step))
        finally:
            self._moving = False
        self.source.value = png_bytes(self.images[i:i + 1], nrow=1, scale=3)
        self.update()

    @torch.no_grad()
    def update(self, change=None) -> None:
        if self._moving:
            return
        device = next(self.model.parameters()).device
        y = torch.tensor([self.label.value], device=device)
        image = torch.sigmoid(self.model.decode(self.z.to(device), y))
        self.image.value = png_bytes(image, nrow=1, scale=6)
