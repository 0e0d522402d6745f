import math

import pytest
import torch
import torch.nn.functional as F

from helpers.entropy import bernoulli_entropy, binarization_entropy


def test_exact_values():
    h = bernoulli_entropy(torch.tensor([0.0, 1.0, 0.5, 0.1]))
    assert h[0] == 0 and h[1] == 0
    assert h[2].item() == pytest.approx(math.log(2))
    assert h[3].item() == pytest.approx(-(0.1 * math.log(0.1) + 0.9 * math.log(0.9)))


def test_per_image_sum_matches_the_cross_entropy_of_an_image_with_itself():
    grey = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    h = binarization_entropy(grey)
    assert h.shape == (5,)
    bce = F.binary_cross_entropy(grey, grey, reduction="none").sum((1, 2, 3))   # 04's grey floor
    assert torch.allclose(h.float(), bce, rtol=1e-5)
    assert binarization_entropy(torch.full((2, 784), 0.5))[0].item() == pytest.approx(784 * math.log(2))


def test_matches_the_average_nll_of_the_flips_under_their_own_odds():
    p = torch.rand(1, 784, generator=torch.Generator().manual_seed(1))
    flips = torch.bernoulli(p.expand(20000, -1), generator=torch.Generator().manual_seed(2))
    nll = F.binary_cross_entropy(p.expand_as(flips), flips, reduction="none").sum(1)
    assert nll.mean().item() == pytest.approx(binarization_entropy(p)[0].item(), abs=4 * nll.std().item() / 141)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="p: probabilities"):
        bernoulli_entropy(torch.tensor([1.5]))
    with pytest.raises(ValueError, match="grey"):
        binarization_entropy(torch.tensor([0.5]))
