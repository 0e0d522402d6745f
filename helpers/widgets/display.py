"""What the five widgets of the series share: a PNG picture of an image grid, and the static
fallback (a line of text and the current picture) that a page without a kernel shows instead of
the live widget. Used by every module of `helpers.widgets`.
"""

from __future__ import annotations

import base64
import io

import ipywidgets as widgets
import torch
from torchvision.utils import make_grid, save_image


def png_bytes(images: torch.Tensor, nrow: int = 8, scale: int = 4) -> bytes:
    """Images (N, 1, 28, 28) in [0, 1] as one PNG grid, enlarged `scale` times without blurring."""
    grid = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    grid = grid.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    buffer = io.BytesIO()
    save_image(grid, buffer, format="png")
    return buffer.getvalue()


class Displayable:
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
