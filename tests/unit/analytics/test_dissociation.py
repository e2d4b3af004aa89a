"""The dissociation effect size: defined per SD, adjusted for baseline, checked against statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from ketaflow.analytics import dissociation_response_association


def test_it_is_the_adjusted_log_odds_per_sd_of_cadss() -> None:
    rng = np.random.default_rng(11)
    n = 800
    cadss = rng.normal(14, 7, n).clip(0)
    base = rng.normal(18.5, 4, n).round().clip(10, 27)
    eta = 0.1 + 0.4 * (cadss - cadss.mean()) / cadss.std(ddof=1) - 0.2 * (base - base.mean()) / base.std()
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)

    result = dissociation_response_association(cadss, base, y)

    zc = (cadss - cadss.mean()) / cadss.std(ddof=1)
    zb = (base - base.mean()) / base.std(ddof=1)
    ref = sm.Logit(y, sm.add_constant(np.column_stack([zc, zb]))).fit(disp=0)
    ci = ref.conf_int()
    assert result.log_odds_per_sd_cadss == pytest.approx(ref.params[1], abs=1e-8)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci[1, 0], ci[1, 1]), abs=1e-6)
    assert result.log_odds_per_sd_baseline_phq9 == pytest.approx(ref.params[2], abs=1e-8)
    assert result.odds_ratio_per_sd_cadss == pytest.approx(np.exp(ref.params[1]), rel=1e-8)
    assert result.patients == n and result.responders == int(y.sum())
    assert result.cadss_sd_points == pytest.approx(cadss.std(ddof=1))


def test_it_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="one value per patient"):
        dissociation_response_association([1.0, 2.0], [10.0], [1.0, 0.0])
