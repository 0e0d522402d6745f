"""The autoencoder and the variational autoencoder, with MLP or small convolutional nets, and the
conditional VAE.

Taught in notebook 01 (`AutoEncoder`, written inline there first), notebook 02 (`VAE`) and
notebook 05 (`ConditionalVAE`, and the convolutional nets).

All decoders return Bernoulli *logits* of shape (N, 1, 28, 28): sigmoid(logits) is the
probability that each pixel is on, i.e. the mean image. The VAEs' encoders return a diagonal
`torch.distributions.Normal`: one mean and one standard deviation per latent dimension.
`VAE` and `ConditionalVAE` share `BaseVAE` (the Gaussian posterior, the prior N(0, I));
``model.conditional`` says whether `encode` and `decode` also take the class labels.
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


def _check_model_args(latent_dim: int, arch: str, channels: tuple[int, int] = (32, 64)) -> int:
    check_choice("arch", arch, ARCHS)
    if not (isinstance(channels, (list, tuple)) and len(channels) == 2 and all(is_int(c) and c >= 1 for c in channels)):
        raise invalid("channels", channels, "two positive integers: the channels of the two convolutions")
    return check_int("latent_dim", latent_dim, minimum=1)


def _config(latent_dim, hidden, arch, channels) -> dict:
    config = {"latent_dim": latent_dim, "hidden": _hidden_sizes(hidden), "arch": arch}
    if arch == "conv":
        config["channels"] = tuple(int(c) for c in channels)
    return config


def mlp(sizes: tuple[int, ...]) -> list[nn.Module]:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


def make_encoder(arch: str, out_features: int, hidden: int | tuple[int, ...] = 512,
                 channels: tuple[int, int] = (32, 64)) -> nn.Module:
    """Images (N, 1, 28, 28) -> features (N, out_features)."""
    check_choice("arch", arch, ARCHS)
    sizes = _hidden_sizes(hidden)
    if arch == "mlp":
        return nn.Sequential(nn.Flatten(), *mlp((PIXELS, *sizes, out_features)))
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.ReLU(),    # c1 x 14 x 14
        nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(),   # c2 x 7 x 7
        nn.Flatten(), nn.Linear(c2 * 7 * 7, sizes[-1]), nn.ReLU(),
        nn.Linear(sizes[-1], out_features))


def make_decoder(arch: str, latent_dim: int, hidden: int | tuple[int, ...] = 512,
                 channels: tuple[int, int] = (32, 64)) -> nn.Module:
    """Codes (N, latent_dim) -> Bernoulli logits (N, 1, 28, 28)."""
    check_choice("arch", arch, ARCHS)
    sizes = _hidden_sizes(hidden)
    if arch == "mlp":
        return nn.Sequential(*mlp((latent_dim, *reversed(sizes), PIXELS)), nn.Unflatten(1, IMAGE_SHAPE))
    c1, c2 = channels
    return nn.Sequential(
        nn.Linear(latent_dim, sizes[-1]), nn.ReLU(),
        nn.Linear(sizes[-1], c2 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
        nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),  # c1 x 14 x 14
        nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1))              # 1 x 28 x 28


class AutoEncoder(nn.Module):
    """z = f_phi(x) (a point), x_hat = sigmoid(g_theta(z)). Notebook 01."""

    conditional = False

    def __init__(self, latent_dim: int = 2, hidden: int | tuple[int, ...] = 512, arch: str = "mlp",
                 channels: tuple[int, int] = (32, 64)):
        super().__init__()
        latent_dim = _check_model_args(latent_dim, arch, channels)
        self.config = _config(latent_dim, hidden, arch, channels)
        self.latent_dim = latent_dim
        self.encoder = make_encoder(arch, latent_dim, hidden, channels)
        self.decoder = make_decoder(arch, latent_dim, hidden, channels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits; `torch.sigmoid` of them is the decoded image."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class BaseVAE(nn.Module):
    """What `VAE` and `ConditionalVAE` share: a code z of `latent_dim` numbers with the prior
    p(z) = N(0, I), and an encoder whose last layer outputs 2 * latent_dim numbers per image: the
    means and the log-variances log sigma^2 of q(z|...) (unconstrained, so any real output is a
    valid sigma). ``conditional`` is True when `encode` and `decode` also take the labels y
    (helpers.train.fit then passes them)."""

    conditional = False

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.latent_dim = config["latent_dim"]

    @staticmethod
    def posterior(encoded: torch.Tensor) -> Normal:
        """The diagonal Normal q(z|...) of the encoder's outputs (N, 2 * latent_dim): means, then log sigma^2."""
        mu, logvar = encoded.chunk(2, dim=-1)
        # validate_args=False: a diverging encoder must reach fit's divergence check (which
        # restores the weights and says why), not stop inside torch.distributions' validation
        return Normal(mu, torch.exp(0.5 * logvar), validate_args=False)

    def prior(self, device: torch.device | str | None = None) -> Normal:
        """p(z) = N(0, I)."""
        zeros = torch.zeros(self.latent_dim, device=device)
        return Normal(zeros, torch.ones_like(zeros))


class VAE(BaseVAE):
    """q_phi(z|x) = N(mu(x), diag(sigma(x)^2)), p(z) = N(0, I), p_theta(x|z) = Bernoulli(logits(z)).

    Notebook 02. The Gaussian q and the prior come from `BaseVAE`.
    """

    def __init__(self, latent_dim: int = 2, hidden: int | tuple[int, ...] = 512, arch: str = "mlp",
                 channels: tuple[int, int] = (32, 64)):
        latent_dim = _check_model_args(latent_dim, arch, channels)
        super().__init__(_config(latent_dim, hidden, arch, channels))
        self.encoder = make_encoder(arch, 2 * latent_dim, hidden, channels)
        self.decoder = make_decoder(arch, latent_dim, hidden, channels)

    def encode(self, x: torch.Tensor) -> Normal:
        """q_phi(z|x): a diagonal Normal with batch shape (N, latent_dim)."""
        return self.posterior(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p_theta(x|z); `torch.sigmoid` of them is the mean image."""
        return self.decoder(z)

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


class ConditionalVAE(BaseVAE):
    """q_phi(z|x, y) and p_theta(x|z, y): a VAE that is told the class y of each image. Notebook 05.

    The label enters both networks as a one-hot vector: the encoder sees it beside the image's
    features (just before its last layer), the decoder beside the code z (its first layer). The
    prior stays p(z) = N(0, I), so z no longer needs to carry the class: it is free to carry
    everything else, the *style*. ``decode(z, y)`` with one z and every y draws the same style in
    every class. `encode`, `decode`, `forward` and `sample` take the labels as an argument.
    """

    conditional = True

    def __init__(self, latent_dim: int = 2, n_classes: int = 10, hidden: int | tuple[int, ...] = 512,
                 arch: str = "mlp", channels: tuple[int, int] = (32, 64)):
        latent_dim = _check_model_args(latent_dim, arch, channels)
        n_classes = check_int("n_classes", n_classes, minimum=2)
        super().__init__({**_config(latent_dim, hidden, arch, channels), "n_classes": n_classes})
        self.n_classes = n_classes
        width = _hidden_sizes(hidden)[-1]
        features = make_encoder(arch, width, hidden, channels)
        self.features = nn.Sequential(*features, nn.ReLU())             # images -> (N, width)
        self.head = nn.Linear(width + self.n_classes, 2 * latent_dim)   # features and label -> mu, log sigma^2
        self.decoder = make_decoder(arch, latent_dim + self.n_classes, hidden, channels)

    def one_hot(self, y: torch.Tensor) -> torch.Tensor:
        if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8) or y.dim() != 1:
            raise ValueError(f"y must be a 1-D tensor of integer class labels, not {y.dtype} of shape {tuple(y.shape)}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            raise ValueError(f"y holds labels from {int(y.min())} to {int(y.max())}; they must be from 0 to "
                             f"{self.n_classes - 1}")
        return nn.functional.one_hot(y.long(), self.n_classes).float()

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> Normal:
        """q_phi(z|x, y): a diagonal Normal with batch shape (N, latent_dim)."""
        h = torch.cat([self.features(x), self.one_hot(y).to(x.device)], dim=-1)
        return self.posterior(self.head(h))

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p_theta(x|z, y), for codes z (N, latent_dim) and their labels y (N,)."""
        if tuple(y.shape) != tuple(z.shape[:-1]):
            raise ValueError(f"y has shape {tuple(y.shape)} and z {tuple(z.shape)}: give one label per code")
        return self.decoder(torch.cat([z, self.one_hot(y).to(z.device)], dim=-1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[Normal, torch.Tensor, torch.Tensor]:
        q = self.encode(x, y)
        z = q.rsample()
        return q, z, self.decode(z, y)

    @torch.no_grad()
    def sample(self, n: int, y: int | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """n mean images of class y (an int, or one label per image) for z ~ p(z), shape (n, 1, 28, 28)."""
        check_int("n", n, minimum=1)
        device = next(self.parameters()).device
        labels = torch.full((n,), y, dtype=torch.long) if not isinstance(y, torch.Tensor) else y.long().cpu()
        if labels.shape != (n,):
            raise ValueError(f"y has shape {tuple(labels.shape)}; give one label, or one per image: ({n},)")
        z = torch.randn(n, self.latent_dim, generator=generator)
        return torch.sigmoid(self.decode(z.to(device), labels.to(device)))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
