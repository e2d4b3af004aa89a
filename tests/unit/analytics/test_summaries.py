"""Means from SQL sums and quantiles from value counts, against NumPy and SciPy on the raw data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ketaflow.analytics import mean_from_sums, quantile_from_counts


def test_it_matches_the_t_interval_on_raw_values() -> None:
    x = np.array([62.0, 75, 80, 91, 66, 70, 88, 73])
    s = mean_from_sums(x.size, float(x.sum()), float((x * x).sum()))
    low, high = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert s.mean == pytest.approx(x.mean())
    assert s.sd == pytest.approx(x.std(ddof=1), rel=1e-12)
    assert (s.ci_low, s.ci_high) == pytest.approx((low, high), rel=1e-12)


def test_it_handles_none_and_one_value() -> None:
    assert mean_from_sums(0, 0.0, 0.0).mean is None
    one = mean_from_sums(1, 5.0, 25.0)
    assert one.mean == 5.0 and one.sd is None


@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
def test_it_matches_numpy_inverted_cdf_quantiles(q: float) -> None:
    values = np.array([5, 2, 3, 4, 6])
    counts = np.array([1, 4, 7, 0, 2])
    raw = np.repeat(values, counts)
    assert quantile_from_counts(values, counts, q) == np.quantile(raw, q, method="inverted_cdf")


def test_it_has_no_quantile_of_nothing() -> None:
    assert quantile_from_counts([1, 2], [0, 0], 0.5) is None
