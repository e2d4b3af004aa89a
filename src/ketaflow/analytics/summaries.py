"""Means and quantiles from aggregates the database returns (counts, sums, histograms).

The queries aggregate in SQL and hand back sums or value counts, not rows; these
functions turn them into summaries with intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


@dataclass(frozen=True)
class MeanSummary:
    """A mean with its standard deviation and t-based confidence interval (None when undefined)."""

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float


def mean_from_sums(n: int, total: float, total_of_squares: float, *, confidence: float = 0.95) -> MeanSummary:
    r"""Return the mean, SD (n - 1) and Student-t interval from :math:`n, \sum x, \sum x^2`.

    References
    ----------
    Student. The probable error of a mean. Biometrika 1908;6:1-25. doi:10.1093/biomet/6.1.1
    """
    if n < 0:
        raise ValueError(f"A count cannot be negative; got {n}.")
    if n == 0:
        return MeanSummary(0, None, None, None, None, confidence)
    mean = total / n
    if n == 1:
        return MeanSummary(1, mean, None, None, None, confidence)
    # Clamp tiny negative values from rounding when all values are equal.
    var = max(0.0, (total_of_squares - n * mean * mean) / (n - 1))
    sd = math.sqrt(var)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return MeanSummary(n, mean, sd, mean - half, mean + half, confidence)


def quantile_from_counts(values: ArrayLike, counts: ArrayLike, q: float) -> float | None:
    """Return the q-quantile of data given as distinct values and their counts.

    The inverted-CDF definition (the smallest value whose cumulative share reaches q;
    Hyndman & Fan 1996, definition 1), so the answer is always an observed value (an
    integer number of infusions stays an integer).

    References
    ----------
    Hyndman RJ, Fan Y. Sample quantiles in statistical packages. Am Stat 1996;50:361-365.
    doi:10.1080/00031305.1996.10473566
    """
    v = np.asarray(values, dtype=float)
    c = np.asarray(counts, dtype=float)
    if v.shape != c.shape or v.ndim != 1:
        raise ValueError("values and counts must be one-dimensional and of equal length.")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must lie between 0 and 1; got {q}.")
    if np.any(c < 0):
        raise ValueError("Counts cannot be negative.")
    keep = c > 0
    v, c = v[keep], c[keep]
    if v.size == 0:
        return None
    order = np.argsort(v)
    v, c = v[order], c[order]
    cum = np.cumsum(c) / c.sum()
    index = int(np.searchsorted(cum, q - 1e-12, side="left"))
    return float(v[min(index, v.size - 1)])
