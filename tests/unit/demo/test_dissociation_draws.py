"""The demo's dissociation draws: the published distribution of peak CADSS, and the planted effect.

Peak CADSS total during IV ketamine for mood disorders: mean 7.7, SD 9.2, right-skewed, in 110
patients (van Schalkwyk GI et al., J Affect Disord 2018;227:11-16). The generator's draws are
checked against those figures on 40,000 seeded patients (no database, about a second); each
tolerance is about three standard errors at that size, stated beside it.
"""

from __future__ import annotations

import math
import random
import statistics
from datetime import date
from functools import cache

import numpy as np
import pytest
import statsmodels.api as sm

from ketaflow.demo.outcomes import (
    PatientCourse,
    cadss_propensity_gamma,
    cadss_propensity_sd,
    cadss_total,
    draw_course,
    mean_cadss_reliability,
    response_intercept,
)
from ketaflow.demo.settings import DemoSettings

SETTINGS = DemoSettings(as_of=date(2026, 6, 1))
N = 40_000


@cache
def draws() -> tuple[list[PatientCourse], list[list[int]]]:
    """N patients' courses and their peak CADSS at infusions 1, 2 and 3."""
    rng = random.Random(2026)
    intercept = response_intercept(SETTINGS)
    courses = [draw_course(rng, SETTINGS, intercept) for _ in range(N)]
    cadss = [[cadss_total(rng, SETTINGS, c, n) for n in (1, 2, 3)] for c in courses]
    return courses, cadss


def test_the_first_infusions_peak_cadss_has_the_published_mean_sd_and_right_skew() -> None:
    first = [c[0] for c in draws()[1]]
    mean, sd = statistics.fmean(first), statistics.stdev(first)
    # SE of the mean 9.2 / sqrt(40,000) = 0.046; of the SD about 0.07 for a distribution this
    # heavy-tailed (kurtosis about 10): tolerances 0.15 and 0.25 points.
    assert abs(mean - 7.7) < 0.15
    assert abs(sd - 9.2) < 0.25
    skewness = statistics.fmean(((x - mean) / sd) ** 3 for x in first)
    assert skewness > 1.5  # a gamma of this mean and SD has skewness about 2.3
    assert statistics.median(first) < mean - 2  # most patients dissociate little, a few a lot
    assert min(first) == 0 and max(first) <= 92  # the scale's range: 23 items scored 0-4


def test_the_gamma_is_fitted_by_moments_to_the_published_mean_and_sd() -> None:
    shape, scale = cadss_propensity_gamma(SETTINGS)
    c = SETTINGS.cadss_session_cv
    # Gamma mean k*scale; the first infusion's peak P*E has E[(P E)^2] = E[P^2](1 + c^2).
    assert shape * scale == pytest.approx(7.7, rel=1e-12)
    second_moment = (shape * scale * scale + (shape * scale) ** 2) * (1 + c * c)
    assert math.sqrt(second_moment - 7.7**2) == pytest.approx(9.2, rel=1e-12)
    assert (round(shape, 3), round(scale, 2)) == (0.778, 9.89)  # as the module docstring states


def test_the_marginal_response_rate_of_the_draws_is_the_setting() -> None:
    courses = draws()[0]
    rate = statistics.fmean(c.responder for c in courses)
    target = SETTINGS.response_fraction
    assert abs(rate - target) < 3 * math.sqrt(target * (1 - target) / N)  # 3 SE = 0.0075


def test_the_intercept_gives_the_target_rate_by_monte_carlo() -> None:
    # An independent check of the quadrature: one million NumPy draws of the same model.
    rng = np.random.default_rng(7)
    shape, scale = cadss_propensity_gamma(SETTINGS)
    p = np.minimum(92, rng.gamma(shape, scale, 1_000_000))
    zp = (p - SETTINGS.cadss_mean) / cadss_propensity_sd(SETTINGS)
    zb = rng.standard_normal(1_000_000)
    eta = (
        response_intercept(SETTINGS)
        + SETTINGS.log_odds_response_per_sd_cadss * zp
        + SETTINGS.log_odds_response_per_sd_baseline * zb
    )
    rate = float(np.mean(1 / (1 + np.exp(-eta))))
    assert abs(rate - SETTINGS.response_fraction) < 0.0005  # 3 SE of this mean is about 0.0001


def _logit_per_sd(exposure: list[float], baseline: list[float], y: list[bool]) -> tuple[float, float]:
    """(log-odds per SD of exposure adjusted for baseline per SD, its standard error): statsmodels."""
    x = np.column_stack([exposure, baseline]).astype(float)
    z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    fit = sm.Logit(np.asarray(y, dtype=float), sm.add_constant(z)).fit(disp=0)
    return float(fit.params[1]), float(fit.bse[1])


def test_the_planted_effect_is_per_sd_of_the_propensity_and_diluted_little_by_three_infusions() -> None:
    courses, cadss = draws()
    y = [c.responder for c in courses]
    baseline = [c.z_baseline for c in courses]
    beta = SETTINGS.log_odds_response_per_sd_cadss
    # Per SD of the propensity itself: the setting, within 3 SE (SE about 0.011 here).
    est, se = _logit_per_sd([c.cadss_propensity for c in courses], baseline, y)
    assert abs(est - beta) < 3 * se
    # Per SD of what the dissociation page uses, the mean charted peak over the first three
    # infusions: diluted by the square root of its reliability, which is high.
    reliability = mean_cadss_reliability(SETTINGS, 3)
    assert 0.95 < reliability < 0.98
    est, se = _logit_per_sd([statistics.fmean(c) for c in cadss], baseline, y)
    assert abs(est - beta * math.sqrt(reliability)) < 3 * se


def test_the_reliability_formula_matches_the_draws() -> None:
    # Squared correlation of the mean of three charted peaks with the propensity, against the
    # formula: with 40,000 pairs its standard error is about 0.0006 (bootstrap), so 0.002 is 3 SE.
    courses, cadss = draws()
    r = np.corrcoef([c.cadss_propensity for c in courses], [statistics.fmean(c) for c in cadss])[0, 1]
    assert abs(r * r - mean_cadss_reliability(SETTINGS, 3)) < 0.002
