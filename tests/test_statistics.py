"""helpers.statistics: means with standard errors, paired differences."""

import math

import pytest
import torch

from helpers.statistics import mean_and_se, paired_difference, t_interval


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


def test_t_interval_of_three_values_uses_students_t_for_two_degrees_of_freedom():
    low, high = t_interval([1.0, 2.0, 3.0])          # mean 2, sd 1, se 1 / sqrt(3); t(0.975, 2) = 4.303
    assert (low, high) == pytest.approx((2 - 4.3027 / math.sqrt(3), 2 + 4.3027 / math.sqrt(3)), abs=1e-3)
    wide, narrow = t_interval([1.0, 2.0, 3.0], level=0.99), t_interval([1.0, 2.0, 3.0], level=0.5)
    assert wide[0] < low < narrow[0] < 2 < narrow[1] < high < wide[1]
    many = torch.arange(1000, dtype=torch.float64)   # many values: t tends to the normal quantile, 1.96
    e = mean_and_se(many)
    assert t_interval(many)[1] - e.mean == pytest.approx(1.962 * e.se, rel=1e-3)


@pytest.mark.parametrize("level", [0, 1, 1.5, "0.95", True])
def test_t_interval_refuses_a_level_outside_0_to_1(level):
    with pytest.raises(ValueError, match=r"level=.* is not valid; level must be a number between 0 and 1"):
        t_interval([1.0, 2.0, 3.0], level=level)
