"""`ELBOPlayground`: move an approximate posterior q and watch log p(x) = ELBO(q) + KL(q || p(z|x)).

Used in notebook 03.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import ipywidgets as widgets
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from helpers.widgets.display import Displayable


class ELBOPlayground(Displayable):
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
