"""`ModelBrowser`: pick a trained model by its beta and latent size and see what it does.

Used in notebook 04 (its sweeps).
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch

from helpers.widgets.display import Displayable, png_bytes


class ModelBrowser(Displayable):
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
