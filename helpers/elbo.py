"""The ELBO, its two terms, the importance-weighted bound L_K, and log p(x) estimates.

Taught in notebook 02 (the loss) and derived in notebook 03. `loss_terms` is the one definition
of the two terms that training minimises (helpers.train.fit) and that `elbo` reports; `mean_nll`
is the test log-likelihood of notebooks 04 and 05.

Conventions, stated once for the whole series:

* Units: nats (natural logarithms). `nats_to_bits_per_dim` converts for comparison with
  published numbers: bits/dim = nats / (784 * ln 2).
* Per image: every function returns one number per image, shape (N,). Log-likelihoods are
  summed over the 784 pixels; KL divergences are summed over the latent dimensions
  (`gaussian_kl_per_dim` keeps them apart, shape (N, latent_dim)).
* Signs: ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x). The first term, the
  *reconstruction* term, is a log-likelihood (<= 0 for binary pixels); the KL term is >= 0.
* Training *minimises* the loss -ELBO (with a weight beta on the KL, beta = 1 for the VAE),
  averaged over the images of a batch: a mean over images, a sum over pixels.
* For pixels in [0, 1] that are not binarized, the Bernoulli "log-likelihood" is the negative
  binary cross-entropy: a fine training loss, but not a true log-likelihood of the data.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.distributions import Normal

from helpers.checks import check_int, check_number
from helpers.data import PIXELS
from helpers.models import AutoEncoder
from helpers.random_state import seeded


def gaussian_kl_per_dim(q: Normal) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) for each latent dimension, in closed form, shape (N, d).

    = 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2); in code often -0.5 * (1 + log s^2 - m^2 - s^2).
    The log-variance is computed as 2 log sigma, not log(sigma^2): sigma^2 underflows to 0 in
    float32 long before sigma does, and would turn a finite KL into infinity.
    """
    return 0.5 * (q.loc ** 2 + q.scale ** 2 - 1.0) - torch.log(q.scale)


def gaussian_kl(q: Normal) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) for a diagonal Gaussian q, summed over latent dims, shape (N,)."""
    return gaussian_kl_per_dim(q).sum(-1)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = sum over pixels of x log p + (1 - x) log(1 - p), p = sigmoid(logits).

    Works for any leading batch shape: (..., 1, 28, 28) -> (...). `x` may have fewer leading
    dimensions than `logits` (the K samples of L_K share one image), but its shape must be the
    end of the logits' shape: an (N, 28, 28) x against (N, 1, 28, 28) logits would broadcast
    to (N, N, 28, 28) and give wrong numbers without an error, so it is refused.
    """
    if x.dim() < 3 or x.dim() > logits.dim() or tuple(logits.shape[logits.dim() - x.dim():]) != tuple(x.shape):
        raise ValueError(f"x has shape {tuple(x.shape)} and logits {tuple(logits.shape)}: x must be images "
                         "(..., 1, 28, 28) whose shape ends the logits' shape (add the channel dimension with "
                         "x.unsqueeze(1))")
    # = x * logits - softplus(logits) = -BCE(logits, x): torch's fused kernel, stable for any logit
    return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").flatten(-3).sum(-1)


def loss_terms(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction, kl_per_dim): -log p(x|z) per image, shape (N,), and KL(q(z|x) || p(z))
    per image and latent dimension, shape (N, d) (d = 0 for the autoencoder). One reparameterized
    sample z = mu + sigma * eps per image, so gradients reach the encoder; `y` are the class
    labels of a conditional model. The loss of training (helpers.train.training_loss) and `elbo`
    are both made of these two terms."""
    if isinstance(model, AutoEncoder):
        return -bernoulli_log_likelihood(x, model(x)), x.new_zeros(len(x), 0)
    q = model.encode(x) if y is None else model.encode(x, y)
    z = q.rsample()
    logits = model.decode(z) if y is None else model.decode(z, y)
    return -bernoulli_log_likelihood(x, logits), gaussian_kl_per_dim(q)


class ELBOTerms(NamedTuple):
    """One number per image: elbo = reconstruction - kl."""

    elbo: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def elbo(model, x: torch.Tensor, y: torch.Tensor | None = None) -> ELBOTerms:
    """The ELBO of each image, from `loss_terms`: one reparameterized sample for the reconstruction
    term log p(x|z), the KL term in closed form."""
    negative_reconstruction, kl_per_dim = loss_terms(model, x, y)
    reconstruction, kl = -negative_reconstruction, kl_per_dim.sum(-1)
    return ELBOTerms(reconstruction - kl, reconstruction, kl)


def log_importance_weights(model, x: torch.Tensor, k: int, q: Normal | None = None) -> torch.Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x) for z_k ~ q(z|x), shape (k, N).

    q is the encoder's q(z|x) unless another proposal is given (a Normal of batch shape (N, d)).
    """
    q = model.encode(x) if q is None else q
    z = q.rsample((k,))                                         # (k, N, d)
    logits = model.decode(z.flatten(0, 1)).unflatten(0, (k, len(x)))
    prior = Normal(torch.zeros_like(z), torch.ones_like(z), validate_args=False)
    return (bernoulli_log_likelihood(x, logits)
            + prior.log_prob(z).sum(-1) - q.log_prob(z).sum(-1))


def iwae_bound(model, x: torch.Tensor, k: int, rows_per_chunk: int = 2048, q: Normal | None = None) -> torch.Tensor:
    """L_K = E[log (1/K) sum_k w_k], one Monte Carlo estimate per image, shape (N,).

    L_1 is the ELBO (with the KL estimated by sampling); L_K rises with K towards log p(x).
    The K samples are drawn in chunks of about `rows_per_chunk` decoded images, combined with
    a running logsumexp, so memory stays bounded for K in the thousands (and 2,048 rows at a time
    keep a chunk in the CPU's caches: about twice as fast as 4,096, measured on a 2-core CPU). With a proposal `q`
    other than the encoder's (notebook 03 optimises one per image) it is still a lower bound.
    """
    k = check_int("k", k, minimum=1)
    rows_per_chunk = check_int("rows_per_chunk", rows_per_chunk, minimum=1)
    chunk = max(1, min(k, rows_per_chunk // max(1, len(x))))
    total = None
    for start in range(0, k, chunk):
        lw = torch.logsumexp(log_importance_weights(model, x, min(chunk, k - start), q), dim=0)
        total = lw if total is None else torch.logaddexp(total, lw)
    return total - math.log(k)


@torch.no_grad()
def log_likelihood(model, x: torch.Tensor, k: int = 1000, batch_size: int = 100, q: Normal | None = None
                   ) -> torch.Tensor:
    """The importance-sampling estimate of log p(x) with K = k samples from q(z|x), shape (N,).

    An estimate of a lower bound (L_K) that tightens as k grows; the usual way to report a
    VAE's test log-likelihood (Burda et al. 2015 use k = 5000). `q`: another proposal, of batch
    shape (N, d), instead of the encoder's.
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)

    def part(i):
        return None if q is None else Normal(q.loc[i:i + batch_size], q.scale[i:i + batch_size], validate_args=False)
    return torch.cat([iwae_bound(model, x[i:i + batch_size], k, q=part(i)) for i in range(0, len(x), batch_size)])


def mean_nll(model, x: torch.Tensor, k: int = 1000, seed: int = 0) -> tuple[float, float]:
    """The importance-sampled negative log-likelihood of `x` (`log_likelihood` with K = k):
    (its mean over the images, the standard error of that mean), in nats per image.

    Notebooks 04 and 05 report a model's test NLL with it. The samples are drawn from `seed` in
    a forked random state: the same model gives the same number, and the caller's draws are
    left as they were.
    """
    with seeded(seed, x.device):
        per_image = -log_likelihood(model, x, k=k)
    return per_image.mean().item(), (per_image.std() / math.sqrt(len(per_image))).item()


def nats_to_bits_per_dim(nats: torch.Tensor | float, dims: int = PIXELS) -> torch.Tensor | float:
    """Convert a (negative) log-likelihood in nats per image to bits per pixel."""
    return nats / (dims * math.log(2.0))


@torch.no_grad()
def active_units(model, x: torch.Tensor, threshold: float = 0.01, batch_size: int = 1000) -> tuple[int, torch.Tensor]:
    """Latent dimensions the model uses (Burda et al. 2015): A_u = Var_x(E_q[z_u | x]) > threshold.

    A dimension whose posterior mean does not move with x carries no information about x: its
    posterior has collapsed onto the prior (KL about 0). Returns the count and the variances.
    """
    if len(x) < 2:
        raise ValueError(f"x holds {len(x)} image(s); active units compare the posterior means of many images "
                         "(a variance over images), so give at least 2 (the test set is the usual choice)")
    check_number("threshold", threshold, 0.0)
    means = torch.cat([model.encode(x[i:i + batch_size]).loc for i in range(0, len(x), batch_size)])
    variances = means.var(0)
    return int((variances > threshold).sum()), variances
