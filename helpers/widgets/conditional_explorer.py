"""`ConditionalExplorer`: a conditional VAE's decoder, live: a class, a code, or a test image's style.

Used in notebook 05.
"""

from __future__ import annotations

import ipywidgets as widgets
import torch

from helpers.models import ConditionalVAE
from helpers.widgets.display import Displayable, png_bytes


class ConditionalExplorer(Displayable):
    """A conditional VAE's decoder, live: choose the class, move one slider per latent dimension,
    or take the style of a test image (its code under its own label). Notebook 05."""

    def __init__(self, model, class_names: list[str], images: torch.Tensor, labels: torch.Tensor,
                 z_range: float = 3.0, step: float = 0.05):
        if not isinstance(model, ConditionalVAE):
            raise ValueError("model must be a conditional VAE (helpers.models.ConditionalVAE), "
                             f"not {type(model).__name__}")
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
