"""The autoencoder and the variational autoencoder, with MLP or small convolutional nets.

Taught in notebook 01 (`AutoEncoder`, written inline there first) and notebook 02 (`VAE`).

Both decoders return Bernoulli *logits* of shape (N, 1, 28, 28): sigmoid(logits) is the
probability that each pixel is on, i.e. the mean image. The VAE's encoder returns a diagonal
`torch.distributions.Normal`: one mean and one standard deviation per latent dimension.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Normal

from helpers.checks import check_choice, check_int, invalid, is_int
from helpers.data import IMAGE_SHAPE, PIXELS

ARCHS = ("mlp", "conv")


def _hidden_sizes(hidden: int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    sizes = (hidden,) if is_int(hidden) else tuple(hidden) if isinstance(hidden, (list, tuple)) else ()
    if not sizes or any(not is_int(h) or h < 1 for h in sizes):
        raise invalid("hidden", hidden, "a positive integer or a non-empty list of them")
    return tuple(int(h) for h in sizes)


def _check_model_args(latent_dim: int, arch: str) -> int:
    check_choice("arch", arch, ARCHS)
    return check_int("latent_dim", latent_dim, minimum=1)


def mlp(sizes: tuple[int, ...]) -> list[nn.Module]:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


def make_encoder(arch: str, out_features: int, hidden: int | tuple[int, ...] = 512) -> nn.Module:
    """Images (N, 1, 28, 28) -> features (N, out_features)."""
    check_choice("arch", arch, ARCHS)
    sizes = _hidden_sizes(hidden)
    if arch == "mlp":
        return nn.Sequential(nn.Flatten(), *mlp((PIXELS, *sizes, out_features)))
    return nn.Sequential(
        nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),   # 32 x 14 x 14
        nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),  # 64 x 7 x 7
        nn.Flatten(), nn.Linear(64 * 7 * 7, sizes[-1]), nn.ReLU(),
        nn.Linear(sizes[-1], out_features))


def make_decoder(arch: str, latent_dim: int, hidden: int | tuple[int, ...] = 512) -> nn.Module:
    """Codes (N, latent_dim) -> Bernoulli logits (N, 1, 28, 28)."""
    check_choice("arch", arch, ARCHS)
    sizes = _hidden_sizes(hidden)
    if arch == "mlp":
        return nn.Sequential(*mlp((latent_dim, *reversed(sizes), PIXELS)), nn.Unflatten(1, IMAGE_SHAPE))
    return nn.Sequential(
        nn.Linear(latent_dim, sizes[-1]), nn.ReLU(),
        nn.Linear(sizes[-1], 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),  # 32 x 14 x 14
        nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1))              # 1 x 28 x 28


class AutoEncoder(nn.Module):
    """z = f_phi(x) (a point), x_hat = sigmoid(g_theta(z)). Notebook 01."""

    def __init__(self, latent_dim: int = 2, hidden: int | tuple[int, ...] = 512, arch: str = "mlp"):
        super().__init__()
        latent_dim = _check_model_args(latent_dim, arch)
        self.config = {"latent_dim": latent_dim, "hidden": _hidden_sizes(hidden), "arch": arch}
        self.latent_dim = latent_dim
        self.encoder = make_encoder(arch, latent_dim, hidden)
        self.decoder = make_decoder(arch, latent_dim, hidden)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits; `torch.sigmoid` of them is the decoded image."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class VAE(nn.Module):
    """q_phi(z|x) = N(mu(x), diag(sigma(x)^2)), p(z) = N(0, I), p_theta(x|z) = Bernoulli(logits(z)).

    Notebook 02. The encoder's last layer outputs 2 * latent_dim numbers per image: the means
    and the log-variances log sigma^2 (unconstrained, so any real output is a valid sigma).
    """

    def __init__(self, latent_dim: int = 2, hidden: int | tuple[int, ...] = 512, arch: str = "mlp"):
        super().__init__()
        latent_dim = _check_model_args(latent_dim, arch)
        self.config = {"latent_dim": latent_dim, "hidden": _hidden_sizes(hidden), "arch": arch}
        self.latent_dim = latent_dim
        self.encoder = make_encoder(arch, 2 * latent_dim, hidden)
        self.decoder = make_decoder(arch, latent_dim, hidden)

    def encode(self, x: torch.Tensor) -> Normal:
        """q_phi(z|x): a diagonal Normal with batch shape (N, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        # validate_args=False: a diverging encoder must reach fit's divergence check (which
        # restores the weights and says why), not stop inside torch.distributions' validation
        return Normal(mu, torch.exp(0.5 * logvar), validate_args=False)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p_theta(x|z); `torch.sigmoid` of them is the mean image."""
        return self.decoder(z)

    def prior(self, device: torch.device | str | None = None) -> Normal:
        """p(z) = N(0, I)."""
        zeros = torch.zeros(self.latent_dim, device=device)
        return Normal(zeros, torch.ones_like(zeros))

    def forward(self, x: torch.Tensor) -> tuple[Normal, torch.Tensor, torch.Tensor]:
        """Returns q(z|x), a reparameterized sample z ~ q(z|x), and the decoder's logits at z."""
        q = self.encode(x)
        z = q.rsample()
        return q, z, self.decode(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n mean images sigmoid(decode(z)) for z ~ p(z), shape (n, 1, 28, 28)."""
        check_int("n", n, minimum=1)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return torch.sigmoid(self.decode(z))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
