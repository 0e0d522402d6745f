"""An estimate with its uncertainty: a mean and its standard error, and paired differences.

Two models scored on the same test images are compared image by image: the mean of the per-image
differences and its standard error. Because both models find the same images hard, the
differences vary far less than either model's scores, so the paired standard error is much smaller
than the two separate standard errors combined:

    d = paired_difference(nll_conv, nll_mlp)   # Estimate(mean=..., se=..., n=...)
    d.interval()                               # (low, high): mean ± 2 standard errors

A few numbers, one per random seed, give a mean whose standard error is itself uncertain, so its
interval uses Student's t (scipy.stats.t) rather than 2: `t_interval([d0, d1, d2])`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from scipy import stats

from helpers.checks import invalid, is_number


class Estimate(NamedTuple):
    """A mean over `n` values and its standard error (the values' sample sd / sqrt(n))."""

    mean: float
    se: float
    n: int

    def interval(self, z: float = 2.0) -> tuple[float, float]:
        """mean ± z standard errors (z = 2: about 95% for a mean of many values)."""
        return self.mean - z * self.se, self.mean + z * self.se

    def excludes(self, value: float = 0.0, z: float = 2.0) -> bool:
        """True if `value` lies outside mean ± z standard errors: the data tell the two apart."""
        low, high = self.interval(z)
        return not low <= value <= high

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.se:.2f} (n = {self.n})"


def _values(values: Sequence[float] | torch.Tensor) -> torch.Tensor:
    v = torch.as_tensor(values, dtype=torch.float64).detach().cpu().flatten()
    if v.numel() < 2:
        raise ValueError(f"values: need at least 2 values for a standard error, got {v.numel()}")
    if not torch.isfinite(v).all():
        raise ValueError("values: every value must be finite (no NaN or inf)")
    return v


def mean_and_se(values: Sequence[float] | torch.Tensor) -> Estimate:
    """The mean of `values` and its standard error (sample standard deviation / sqrt(n))."""
    v = _values(values)
    return Estimate(v.mean().item(), v.std(unbiased=True).item() / math.sqrt(v.numel()), v.numel())


def paired_difference(a: Sequence[float] | torch.Tensor, b: Sequence[float] | torch.Tensor) -> Estimate:
    """The mean of a - b over the same items (e.g. per-image NLLs of two models) and its standard error."""
    a, b = _values(a), _values(b)
    if a.shape != b.shape:
        raise ValueError(f"a and b: a paired difference needs the same items in both, got {a.numel()} and {b.numel()}")
    return mean_and_se(a - b)


def t_interval(values: Sequence[float] | torch.Tensor, level: float = 0.95) -> tuple[float, float]:
    """The `level` confidence interval of the mean of a few values (e.g. one number per seed): the mean
    ± t standard errors, t being Student's quantile for n - 1 degrees of freedom (4.30 for 3 values at 95%)."""
    if not is_number(level) or not 0 < level < 1:
        raise invalid("level", level, "a number between 0 and 1, e.g. 0.95")
    e = mean_and_se(values)
    t = float(stats.t.ppf(0.5 + level / 2, e.n - 1))
    return e.mean - t * e.se, e.mean + t * e.se
