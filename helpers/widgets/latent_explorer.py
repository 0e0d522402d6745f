"""`LatentExplorer`: one slider per latent dimension and the image the decoder makes of that code.

Used in notebooks 01 (the autoencoder's code space) and 02 (the VAE's).
"""

from __future__ import annotations

import ipywidgets as widgets
import torch

from helpers.widgets.display import Displayable, png_bytes


class LatentExplorer(Displayable):
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
