"""helpers.statistics: means with standard errors, paired differences."""

import math

import pytest
import torch

from helpers.statistics import mean_and_se, paired_difference


def test_mean_and_se_of_known_values():
    e = mean_and_se([1.0, 2.0, 3.0, 4.0])
    assert e.mean == pytest.approx(2.5)
    assert e.se == pytest.approx(math.sqrt(5 / 3) / 2)  # sample sd sqrt(5/3), n = 4
    assert e.n == 4
    assert e.interval() == pytest.approx((2.5 - 2 * e.se, 2.5 + 2 * e.se))


def test_paired_difference_is_tighter_than_separate_errors_when_items_share_difficulty():
    g = torch.Generator().manual_seed(0)
    difficulty = 100 + 20 * torch.randn(500, generator=g)
    a = difficulty + 0.5 + 0.3 * torch.randn(500, generator=g)
    b = difficulty + 0.3 * torch.randn(500, generator=g)
    d = paired_difference(a, b)
    separate = math.hypot(mean_and_se(a).se, mean_and_se(b).se)
    assert d.se < separate / 10
    assert d.excludes(0.0)
    assert 0.4 < d.mean < 0.6


def test_an_equal_pair_does_not_exclude_zero():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(200, generator=g)
    b = a + 0.1 * torch.randn(200, generator=g)
    assert not paired_difference(a, b).excludes(0.0)


@pytest.mark.parametrize("a, b, message", [
    ([1.0, 2.0], [1.0, 2.0, 3.0], "same items"),
    ([1.0], [1.0], "at least 2"),
    ([1.0, float("nan")], [1.0, 2.0], "finite"),
])
def test_bad_input_names_the_parameter(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_difference(a, b)
