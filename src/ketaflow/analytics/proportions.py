"""Proportions with confidence intervals, and a test of whether clinics differ.

Response, remission, drop-out and side-effect rates are binomial proportions. Their
intervals are Wilson score intervals by default: Brown, Cai & DasGupta (2001) show that
the textbook Wald interval under-covers badly for small clinics and rates near 0 or 1,
that Clopper-Pearson is conservative (wider than needed, coverage above 95%), and they
recommend Wilson for its near-nominal coverage. Clopper-Pearson is offered for readers
who want a guaranteed (exact) lower coverage bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

IntervalMethod = Literal["wilson", "clopper-pearson"]


@dataclass(frozen=True)
class Proportion:
    """A proportion `successes / n` with its confidence interval (None when n is 0)."""

    successes: int
    n: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    method: IntervalMethod


def _check(successes: int, n: int, confidence: float) -> None:
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"A proportion needs 0 <= successes <= n; got {successes} of {n}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"The confidence level must lie between 0 and 1; got {confidence}.")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    r"""Return the Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes, n
        Number of successes and of trials (n > 0).
    confidence
        Two-sided confidence level.

    Returns
    -------
    tuple of float
        ``(low, high)``, the roots in :math:`p` of :math:`(\hat p - p)^2 = z^2 p(1-p)/n`.

    References
    ----------
    Wilson EB. Probable inference, the law of succession, and statistical inference.
    J Am Stat Assoc 1927;22:209-212. doi:10.1080/01621459.1927.10502953
    Brown LD, Cai TT, DasGupta A. Interval estimation for a binomial proportion.
    Stat Sci 2001;16:101-133. doi:10.1214/ss/1009213286
    """
    _check(successes, n, confidence)
    if n == 0:
        raise ValueError("A proportion of zero patients has no interval.")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Clamp the rounding error at the ends (the exact roots are 0 and 1 there).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def clopper_pearson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Clopper-Pearson ("exact") interval from beta quantiles.

    References
    ----------
    Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the
    case of the binomial. Biometrika 1934;26:404-413. doi:10.1093/biomet/26.4.404
    """
    _check(successes, n, confidence)
    if n == 0:
        raise ValueError("A proportion of zero patients has no interval.")
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(stats.beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return low, high


def proportion(
    successes: int, n: int, *, confidence: float = 0.95, method: IntervalMethod = "wilson"
) -> Proportion:
    """Return `successes / n` with its interval; with n = 0 the estimate and interval are None."""
    _check(successes, n, confidence)
    if n == 0:
        return Proportion(successes, n, None, None, None, confidence, method)
    interval = wilson_interval if method == "wilson" else clopper_pearson_interval
    low, high = interval(successes, n, confidence)
    return Proportion(successes, n, successes / n, low, high, confidence, method)


@dataclass(frozen=True)
class HomogeneityTest:
    """Pearson's chi-square test that several groups share one proportion."""

    chi_square: float
    degrees_of_freedom: int
    p_value: float
    groups: int


def homogeneity_test(successes: ArrayLike, totals: ArrayLike) -> HomogeneityTest:
    """Test whether the groups' proportions differ more than chance would make them.

    A 2 x k table (successes, failures) with Pearson's chi-square statistic and k - 1
    degrees of freedom. Groups with no patients are left out. A large p-value says the
    clinics' differences are within what chance produces: no clinic to single out.

    References
    ----------
    Pearson K. On the criterion that a given system of deviations from the probable...
    Philos Mag 1900;50:157-175. doi:10.1080/14786440009463897
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(totals, dtype=float)
    if k.shape != n.shape or k.ndim != 1:
        raise ValueError("successes and totals must be one-dimensional and of equal length.")
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("Each group needs 0 <= successes <= total.")
    keep = n > 0
    k, n = k[keep], n[keep]
    groups = int(k.size)
    pooled = k.sum() / n.sum() if groups else math.nan
    if groups < 2 or pooled in (0.0, 1.0):
        return HomogeneityTest(0.0, max(groups - 1, 0), 1.0, groups)
    expected_yes = n * pooled
    expected_no = n * (1 - pooled)
    chi2 = float(np.sum((k - expected_yes) ** 2 / expected_yes + ((n - k) - expected_no) ** 2 / expected_no))
    df = groups - 1
    return HomogeneityTest(chi2, df, float(stats.chi2.sf(chi2, df)), groups)
