"""Proportion intervals and the clinic homogeneity test against statsmodels and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from ketaflow.analytics import clopper_pearson_interval, homogeneity_test, proportion, wilson_interval

CASES = [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (7, 23), (536, 1000), (1, 250)]


@pytest.mark.parametrize(("k", "n"), CASES)
def test_it_matches_statsmodels_wilson(k: int, n: int) -> None:
    low, high = wilson_interval(k, n)
    ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)


@pytest.mark.parametrize(("k", "n"), CASES)
def test_it_matches_statsmodels_clopper_pearson(k: int, n: int) -> None:
    low, high = clopper_pearson_interval(k, n, confidence=0.9)
    ref_low, ref_high = proportion_confint(k, n, alpha=0.1, method="beta")
    assert low == pytest.approx(ref_low, abs=1e-12)
    assert high == pytest.approx(ref_high, abs=1e-12)


def test_it_matches_scipy_binomtest_intervals() -> None:
    result = stats.binomtest(7, 23).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(7, 23)
    assert (low, high) == pytest.approx((result.low, result.high), abs=1e-12)


def test_it_gives_no_interval_for_no_patients() -> None:
    p = proportion(0, 0)
    assert p.estimate is None and p.ci_low is None and p.ci_high is None


def test_it_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="successes <= n"):
        proportion(5, 3)


def test_it_matches_scipy_chi2_contingency() -> None:
    k = np.array([30, 45, 12, 60])
    n = np.array([60, 70, 40, 100])
    table = np.vstack([k, n - k])
    chi2, p, df, _ = stats.chi2_contingency(table, correction=False)
    result = homogeneity_test(k, n)
    assert result.chi_square == pytest.approx(chi2, rel=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-10)
    assert result.degrees_of_freedom == df == 3


def test_it_skips_empty_groups_and_degenerate_tables() -> None:
    assert homogeneity_test([3, 0], [10, 0]).groups == 1
    assert homogeneity_test([0, 0], [10, 5]).p_value == 1.0
