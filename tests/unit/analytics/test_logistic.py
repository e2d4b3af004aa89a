"""The NumPy logistic fit against statsmodels' Logit on seeded synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from ketaflow.analytics import NoConvergence, fit_logistic, standardise


def _data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    eta = 0.2 + 0.5 * x[:, 0] - 0.3 * x[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return x, y


@pytest.mark.parametrize(("seed", "n"), [(1, 40), (2, 300), (3, 2000)])
def test_it_matches_statsmodels_logit(seed: int, n: int) -> None:
    x, y = _data(seed, n)
    ours = fit_logistic(x, y, ["a", "b"])
    ref = sm.Logit(y, sm.add_constant(x)).fit(disp=0)
    ci = ref.conf_int(alpha=0.05)
    for i, c in enumerate(ours.coefficients):
        assert c.estimate == pytest.approx(ref.params[i], abs=1e-8)
        assert c.standard_error == pytest.approx(ref.bse[i], rel=1e-6)
        assert (c.ci_low, c.ci_high) == pytest.approx((ci[i, 0], ci[i, 1]), abs=1e-6)
        assert c.p_value == pytest.approx(ref.pvalues[i], rel=1e-5, abs=1e-12)
    assert ours.log_likelihood == pytest.approx(ref.llf, rel=1e-10)
    assert ours.n == n and ours.events == int(y.sum())


def test_it_refuses_separated_data() -> None:
    x = np.arange(20.0)
    y = (x > 9).astype(float)
    with pytest.raises(NoConvergence, match="separated"):
        fit_logistic(x, y, ["x"])


def test_it_refuses_an_outcome_without_variation() -> None:
    with pytest.raises(ValueError, match="no variation"):
        fit_logistic(np.arange(10.0), np.ones(10), ["x"])


def test_it_standardises_with_the_sample_sd() -> None:
    z, mean, sd = standardise([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and sd == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert z.mean() == pytest.approx(0.0) and z.std(ddof=1) == pytest.approx(1.0)
