import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from helpers.elbo import (
    bernoulli_log_likelihood,
    elbo,
    gaussian_kl,
    gaussian_kl_per_dim,
    iwae_bound,
    log_importance_weights,
    log_likelihood,
    nats_to_bits_per_dim,
)
from helpers.models import VAE


def random_q(n=8, d=5, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return Normal(torch.randn(n, d, generator=g).to(device), (torch.rand(n, d, generator=g) * 2 + 0.1).to(device))


def test_closed_form_kl_matches_torch_distributions(device):
    q = random_q(device=device)
    p = Normal(torch.zeros(8, 5, device=device), torch.ones(8, 5, device=device))
    assert torch.allclose(gaussian_kl_per_dim(q), kl_divergence(q, p), atol=1e-5)
    assert torch.allclose(gaussian_kl(q), kl_divergence(q, p).sum(-1), atol=1e-5)
    assert gaussian_kl(q).shape == (8,)


def test_closed_form_kl_matches_monte_carlo_within_4_standard_errors(device):
    q = random_q(n=3, d=4, seed=1, device=device)
    p = Normal(0.0, 1.0)
    z = q.sample((200_000,))
    samples = (q.log_prob(z) - p.log_prob(z)).sum(-1)           # (S, 3)
    estimate, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    assert torch.all((estimate - gaussian_kl(q)).abs() < 4 * se)


def test_kl_to_the_prior_has_the_known_values(device):
    """KL(N(mu, s^2) || N(0, 1)) = 0.5 (mu^2 + s^2 - 1 - log s^2) per dimension, worked by hand (UvA's practicals):
    s = e, mu = 0: 0.5 (e^2 - 3) = 2.19453; mu = 2, s = 1: 2; the prior itself: 0. A missing 0.5, a wrong sign
    of log s^2 or a mean over dimensions instead of a sum each fails one of these."""
    def kl(mu, s, d=3):
        return gaussian_kl(Normal(torch.full((1, d), mu, device=device), torch.full((1, d), s, device=device)))

    assert kl(0.0, math.e).item() == pytest.approx(3 * 2.1945280494653, rel=1e-6)
    assert kl(2.0, 1.0).item() == pytest.approx(3 * 2.0, rel=1e-6)
    assert kl(0.0, 0.5, d=1).item() == pytest.approx(0.3181471805599453, rel=1e-6)  # 0.5 (0.25 - 1 + log 4)
    assert gaussian_kl(Normal(torch.zeros(2, 4, device=device), torch.ones(2, 4, device=device))).tolist() == [0, 0]


def test_coin_flip_pixels_cost_exactly_one_bit_per_dim(device):
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.5, device=device))
    nll = -bernoulli_log_likelihood(x, torch.zeros_like(x))
    assert torch.allclose(nll, torch.full((5,), 784 * math.log(2), device=device))
    assert torch.allclose(nats_to_bits_per_dim(nll), torch.ones(5, device=device))


def test_bernoulli_log_likelihood_matches_torch_distributions(device):
    x = torch.bernoulli(torch.rand(4, 1, 28, 28, device=device))
    logits = torch.randn(4, 1, 28, 28, device=device) * 3
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum((1, 2, 3))
    assert torch.allclose(bernoulli_log_likelihood(x, logits), expected, atol=1e-3)


@pytest.fixture(scope="module")
def vae_and_x(mnist, device):
    torch.manual_seed(0)
    return VAE(latent_dim=4, hidden=64).to(device).eval(), mnist.x_test[:32].to(device)


def test_l1_equals_the_elbo_in_expectation(vae_and_x):
    model, x = vae_and_x
    torch.manual_seed(1)
    with torch.no_grad():
        l1 = torch.stack([iwae_bound(model, x, 1) for _ in range(400)])          # (400, 32)
        e = torch.stack([elbo(model, x).elbo for _ in range(400)])
    diff = (l1 - e).mean(0)
    se = ((l1.var(0) + e.var(0)) / 400).sqrt()
    assert torch.all(diff.abs() < 4 * se)


def test_lk_rises_with_k(vae_and_x):
    """E[L_1] < E[L_10] < E[L_100] <= E[L_1000] (Burda et al. 2015, theorem 1), each step beyond the noise."""
    model, x = vae_and_x
    torch.manual_seed(2)
    with torch.no_grad():
        runs = {k: torch.stack([iwae_bound(model, x, k).mean() for _ in range(20)]) for k in (1, 10, 100)}  # (20,)
        ll = log_likelihood(model, x, k=1000, batch_size=8).mean()  # one run of L_1000
    mean = {k: r.mean() for k, r in runs.items()}
    se = {k: r.std() / math.sqrt(len(r)) for k, r in runs.items()}  # standard error of each mean of 20 runs
    assert mean[10] - mean[1] > 4 * (se[1] ** 2 + se[10] ** 2).sqrt()
    assert mean[100] - mean[10] > 4 * (se[10] ** 2 + se[100] ** 2).sqrt()
    # one run of L_1000 varies less than one run of L_100 (its sd shrinks as K grows), so the spread of the
    # L_100 runs bounds its noise: the mean of L_100 lies below it up to 4 of those
    assert mean[100] < ll + 4 * (se[100] ** 2 + runs[100].var()).sqrt()


def test_iwae_bound_chunking_gives_the_same_estimate(vae_and_x):
    model, x = vae_and_x
    with torch.no_grad():
        torch.manual_seed(3)
        whole = iwae_bound(model, x[:4], 64, rows_per_chunk=10_000)
        torch.manual_seed(3)
        lw = log_importance_weights(model, x[:4], 64)
        assert torch.allclose(whole, torch.logsumexp(lw, 0) - math.log(64), atol=1e-4)
        torch.manual_seed(3)
        chunked = iwae_bound(model, x[:4], 64, rows_per_chunk=16)  # 4 samples per chunk, 16 chunks
    # the same 64 weights, combined chunk by chunk with a running logsumexp: the same estimate
    assert chunked.shape == (4,) and torch.allclose(chunked, whole, atol=1e-4)
    with pytest.raises(ValueError, match="k=0"):
        iwae_bound(model, x, 0)
    with pytest.raises(ValueError, match="k=True"):
        iwae_bound(model, x, True)
    assert iwae_bound(model, x[:2], np.int64(3)).shape == (2,)  # NumPy's integers are integers


class PriorEncoderConstantDecoder(torch.nn.Module):
    """q(z|x) = N(0, I) = p(z), and a decoder that ignores z: every importance weight is p(x|z) = p(x)."""
    latent_dim = 3

    def __init__(self):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)))

    def encode(self, x):
        zeros = torch.zeros(len(x), self.latent_dim, device=x.device)
        return Normal(zeros, torch.ones_like(zeros))

    def decode(self, z):
        return self.logits.expand(len(z), 1, 28, 28)


@pytest.mark.parametrize("k, rows_per_chunk", [(1, 4096), (7, 4096), (50, 30), (1000, 64)])
def test_lk_is_exact_when_every_importance_weight_is_equal(k, rows_per_chunk, mnist, device):
    model, x = PriorEncoderConstantDecoder().to(device), mnist.x_test[:6].to(device)
    exact = bernoulli_log_likelihood(x, model.logits.expand(6, 1, 28, 28))
    with torch.no_grad():
        assert torch.allclose(iwae_bound(model, x, k, rows_per_chunk=rows_per_chunk), exact, atol=1e-3)
        assert torch.allclose(log_likelihood(model, x, k=k, batch_size=4), exact, atol=1e-3)


def test_a_shape_mismatch_is_an_error_not_a_wrong_number():
    x = torch.bernoulli(torch.rand(4, 1, 28, 28))
    logits = torch.randn(4, 1, 28, 28)
    with pytest.raises(ValueError, match=r"x has shape \(4, 28, 28\) and logits \(4, 1, 28, 28\).*unsqueeze"):
        bernoulli_log_likelihood(x[:, 0], logits)
    # K samples per image share one image: that broadcast is intended
    assert bernoulli_log_likelihood(x, logits.expand(3, 4, 1, 28, 28)).shape == (3, 4)


def test_the_kl_stays_finite_where_sigma_squared_underflows(device):
    q = Normal(torch.zeros(1, 2, device=device), torch.exp(0.5 * torch.tensor([[-150.0, 0.0]], device=device)),
               validate_args=False)
    assert (q.scale ** 2)[0, 0] == 0  # log(sigma^2) would be -inf
    kl = gaussian_kl_per_dim(q)
    assert torch.isfinite(kl).all() and kl[0, 0].item() == pytest.approx(0.5 * (150 - 1), rel=1e-5)


def test_gradients_reach_the_encoder_only_through_rsample(vae_and_x):
    model, x = vae_and_x
    model.zero_grad()
    q = model.encode(x)
    bernoulli_log_likelihood(x, model.decode(q.rsample())).mean().backward()
    first = model.encoder[1].weight
    assert first.grad is not None and first.grad.abs().sum() > 0
    model.zero_grad()
    q = model.encode(x)
    bernoulli_log_likelihood(x, model.decode(q.sample())).mean().backward()
    assert first.grad is None or first.grad.abs().sum() == 0


def test_active_units_counts_the_dimensions_whose_mean_moves_with_x():
    class Fixed(torch.nn.Module):
        latent_dim = 3

        def encode(self, x):  # dim 0 follows the image, dim 1 barely moves, dim 2 is constant
            m = x.flatten(1).mean(1, keepdim=True)
            loc = torch.cat([10 * m, 0.01 * m, torch.zeros_like(m)], dim=1)
            return Normal(loc, torch.ones_like(loc))

    from helpers.elbo import active_units
    x = torch.rand(200, 1, 28, 28) * torch.rand(200, 1, 1, 1)
    count, variances = active_units(Fixed(), x)
    assert count == 1 and variances.shape == (3,)
    assert variances[0] > 0.01 > variances[1] and variances[2] == 0
    with pytest.raises(ValueError, match="holds 1 image.*at least 2"):
        active_units(Fixed(), x[:1])


def test_a_given_proposal_replaces_the_encoders(vae_and_x):
    model, x = vae_and_x
    with torch.no_grad():
        q = model.encode(x[:6])
        torch.manual_seed(4)
        default = log_likelihood(model, x[:6], k=50, batch_size=4)
        torch.manual_seed(4)
        same = log_likelihood(model, x[:6], k=50, batch_size=4, q=q)
        assert torch.allclose(default, same, atol=1e-5)
        far = Normal(q.loc + 5.0, q.scale)  # a poor proposal: still a lower bound, a much looser one
        assert (log_likelihood(model, x[:6], k=50, q=far) < default - 1.0).all()


def test_elbo_is_made_of_the_loss_terms_of_training():
    from helpers.elbo import loss_terms
    from helpers.models import AutoEncoder, ConditionalVAE
    x = (torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    y = torch.arange(6) % 10
    for model, labels in ((VAE(3, 16), None), (ConditionalVAE(3, hidden=16), y), (AutoEncoder(3, 16), None)):
        torch.manual_seed(1)
        rec, kl_per_dim = loss_terms(model, x, labels)
        torch.manual_seed(1)
        terms = elbo(model, x, labels)
        assert torch.equal(terms.reconstruction, -rec) and torch.equal(terms.kl, kl_per_dim.sum(-1))
        assert torch.equal(terms.elbo, terms.reconstruction - terms.kl)


def test_mean_nll_is_the_mean_and_standard_error_of_minus_log_likelihood_and_keeps_the_random_state():
    from helpers.elbo import mean_nll
    torch.manual_seed(0)
    model = VAE(2, 16)
    x = (torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    torch.manual_seed(7)
    per_image = -log_likelihood(model, x, k=30)
    torch.manual_seed(123)
    mean, se = mean_nll(model, x, k=30, seed=7)
    after = torch.rand(2)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(2), after)  # the caller's draws are as if mean_nll had not run
    assert mean == per_image.mean().item() and se == pytest.approx(per_image.std().item() / math.sqrt(20))
    assert mean_nll(model, x, k=30, seed=7) == (mean, se) and mean_nll(model, x, k=30, seed=8)[0] != mean
