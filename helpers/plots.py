"""Figures used across the series. Each function draws one figure and returns it.

Taught in notebook 01 (grids, reconstructions, latent scatter, interpolation, loss curves) and
notebook 02 (the manifold over Normal quantiles). Image grids use torchvision's `make_grid`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch.distributions import Normal
from torchvision.utils import make_grid


def show(fig: Figure, alt: str) -> None:
    """Display `fig` with its alt text, a sentence saying what it shows (read aloud by screen
    readers, and shown by the series' web pages when the image cannot be), then close it."""
    from IPython.display import display

    if not isinstance(alt, str) or len(alt.strip()) < 10:
        raise ValueError(f"alt={alt!r} is not valid; alt must be a sentence saying what the figure shows")
    display(fig, metadata={"image/png": {"alt": alt.strip()}})
    plt.close(fig)


def _as_images(model_output: torch.Tensor) -> torch.Tensor:
    return model_output.detach().float().cpu().clamp(0, 1)


def image_grid(images: torch.Tensor, nrow: int = 10, title: str | None = None, ax=None,
               padding: int = 2) -> Figure:
    """Images (N, 1, 28, 28) in [0, 1] as one grid, `nrow` images per row."""
    grid = make_grid(_as_images(images), nrow=nrow, padding=padding, pad_value=1.0)
    if ax is None:
        rows = int(np.ceil(len(images) / nrow))
        _, ax = plt.subplots(figsize=(min(12, 0.6 * nrow + 1), 0.6 * rows + 0.6))
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray", interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def labelled_grid(images: torch.Tensor, labels: torch.Tensor, class_names: list[str], ncol: int = 10,
                  title: str | None = None) -> Figure:
    """A grid of images, each titled with its class name."""
    n = len(images)
    rows = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(rows, ncol, figsize=(ncol * 0.9, rows * 1.05))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.set_axis_off()
        if i < n:
            ax.imshow(_as_images(images[i])[0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(class_names[int(labels[i])], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def reconstructions(originals: torch.Tensor, reconstructed: torch.Tensor, title: str | None = None) -> Figure:
    """Originals (top row) against their reconstructions (bottom row)."""
    n = len(originals)
    fig, axes = plt.subplots(2, 1, figsize=(min(12, 0.6 * n + 1), 2.1))
    image_grid(originals, nrow=n, ax=axes[0], title=f"{title}\noriginals x" if title else "originals x")
    image_grid(reconstructed, nrow=n, ax=axes[1], title="reconstructions")
    return fig


def latent_scatter(z: torch.Tensor, labels: torch.Tensor, class_names: list[str], title: str = "latent space",
                   ax=None) -> Figure:
    """The first two latent coordinates of each image, coloured by class."""
    z, labels = z.detach().cpu().numpy(), labels.cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=6, alpha=0.8, vmin=-0.5, vmax=9.5)
    cbar = ax.figure.colorbar(points, ax=ax, ticks=range(10))
    cbar.ax.set_yticklabels(class_names)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    return ax.figure


def normal_quantile_grid(n: int = 15, low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """n values of z whose N(0, 1) probabilities are evenly spaced in [low, high]."""
    return Normal(0.0, 1.0).icdf(torch.linspace(low, high, n))


@torch.no_grad()
def manifold(model, n: int = 15, title: str = "decoded manifold") -> Figure:
    """Decode a 2-D grid of codes placed at evenly spaced Normal quantiles (Kingma & Welling, Fig. 4)."""
    if model.latent_dim != 2:
        raise ValueError(f"manifold needs a model with latent_dim=2, not {model.latent_dim}")
    device = next(model.parameters()).device
    values = normal_quantile_grid(n)
    # rows go from high z_2 (top) to low z_2 (bottom), so the picture reads like a plot
    z = torch.stack([torch.stack([x, y]) for y in values.flip(0) for x in values]).to(device)
    images = torch.sigmoid(model.decode(z))
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    grid = make_grid(_as_images(images), nrow=n, padding=0)
    extent = (values[0].item(), values[-1].item(), values[0].item(), values[-1].item())
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray", extent=extent)
    ax.set_xlabel("$z_1$ (placed at N(0,1) quantiles 5% ... 95%)")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    return fig


@torch.no_grad()
def interpolation(model, z_start: torch.Tensor, z_end: torch.Tensor, steps: int = 10,
                  title: str = "interpolation in latent space") -> Figure:
    """Decode z = (1 - t) z_start + t z_end for t evenly spaced in [0, 1]."""
    t = torch.linspace(0, 1, steps, device=z_start.device).unsqueeze(1)
    images = torch.sigmoid(model.decode((1 - t) * z_start + t * z_end))
    return image_grid(images, nrow=steps, title=title)


def loss_curves(history, title: str = "training", beta: float | None = None) -> Figure:
    """Per-epoch curves on the training, validation (if any) and test images: the loss, and (for a
    VAE) its reconstruction and KL terms. A dotted line marks the epoch whose weights the model
    holds when early stopping chose one."""
    epochs = np.arange(1, len(history.train["loss"]) + 1)
    has_kl = any(v > 0 for v in history.train["kl"])
    names = ["loss", "reconstruction", "kl"] if has_kl else ["reconstruction"]
    labels = {"loss": "loss = reconstruction + " + ("β·" if beta not in (None, 1, 1.0) else "") + "KL",
              "reconstruction": "reconstruction  -log p(x|z)", "kl": "KL(q(z|x) || p(z))"}
    splits = [("train", "o-"), ("validation", "^-"), ("test", "s--")]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for split, style in splits:
            values = getattr(history, split, {}).get(name, [])
            if len(values) == len(epochs):  # a test score of the final model only (test_curve=False) is no curve
                ax.plot(epochs, values, style, label=split, markersize=2, linewidth=1)
        best = getattr(history, "best_epoch", 0)
        if best and best != len(epochs):
            ax.axvline(best, color="gray", linestyle=":", label=f"best epoch ({best})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per image")
        ax.set_title(labels[name], fontsize=10)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def diagram(kind: str = "ae") -> Figure:
    """The model as a picture: x -> encoder -> z -> decoder -> x_hat ("ae"), or with the VAE's
    mean, standard deviation and sampling step ("vae")."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon

    if kind not in ("ae", "vae"):
        raise ValueError(f"kind={kind!r} is not valid; choose 'ae' or 'vae'")
    fig, ax = plt.subplots(figsize=(10, 2.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 2.6)
    ax.set_axis_off()

    def box(x, y, w, h, text, color):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=color, ec="black"))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=11)

    def arrow(x0, y0, x1, y1):
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, color="black"))

    ax.add_patch(Polygon([(1.3, 0.3), (2.9, 0.9), (2.9, 1.7), (1.3, 2.3)], fc="#cfe2f3", ec="black"))
    ax.text(2.1, 1.3, "encoder\n" + (r"$q_\phi(z|x)$" if kind == "vae" else r"$f_\phi$"), ha="center", va="center")
    ax.add_patch(Polygon([(6.9, 0.9), (8.5, 0.3), (8.5, 2.3), (6.9, 1.7)], fc="#d9ead3", ec="black"))
    ax.text(7.7, 1.3, "decoder\n" + (r"$p_\theta(x|z)$" if kind == "vae" else r"$g_\theta$"), ha="center", va="center")
    box(0.1, 0.9, 0.9, 0.8, "image\n$x$", "white")
    box(8.9, 0.9, 1.0, 0.8, r"$\hat{x}$", "white")
    arrow(1.05, 1.3, 1.3, 1.3)
    arrow(8.5, 1.3, 8.85, 1.3)
    if kind == "ae":
        box(4.4, 1.0, 1.1, 0.6, "code $z$", "#fff2cc")
        arrow(2.9, 1.3, 4.35, 1.3)
        arrow(5.55, 1.3, 6.9, 1.3)
        ax.set_title("An autoencoder: a bottleneck code z from which x must be rebuilt")
    else:
        box(3.3, 1.75, 0.8, 0.5, r"$\mu$", "#fff2cc")
        box(3.3, 0.35, 0.8, 0.5, r"$\sigma$", "#fff2cc")
        box(4.8, 0.95, 1.6, 0.7, r"$z = \mu + \sigma \odot \epsilon$", "#fce5cd")
        ax.text(5.6, 0.55, r"$\epsilon \sim N(0, I)$", ha="center", fontsize=10)
        arrow(2.9, 1.5, 3.25, 2.0)
        arrow(2.9, 1.1, 3.25, 0.6)
        arrow(4.15, 2.0, 4.75, 1.45)
        arrow(4.15, 0.6, 4.75, 1.15)
        arrow(6.45, 1.3, 6.9, 1.3)
        ax.set_title("A VAE: the encoder outputs a mean and a standard deviation per latent dimension")
    return fig
