"""Patient-level outcome draws for the demo: who responds, who remits, PHQ-9 and CADSS paths.

Dissociation. A patient's peak CADSS at infusion n is ``P * E_n * (1 - d)**(n - 1)``, rounded
and kept in 0-92: P, the patient's propensity (their expected peak at the first infusion), is
gamma-distributed; E_n, the session factor, is lognormal with mean 1 and coefficient of
variation c; d is the decline per infusion. The gamma is fitted by moments so that the first
infusion's peak has the published mean m and SD s (van Schalkwyk 2018, see the settings):
E[P E] = E[P] = m and E[(P E)^2] = E[P^2] (1 + c^2), so

    var P = (s^2 + m^2) / (1 + c^2) - m^2,   shape k = m^2 / var P,   scale = var P / m.

With m = 7.7, s = 9.2, c = 0.25: SD of P 8.73 points, k = 0.778, scale 9.89 points.

Response. The log-odds of response are linear in P per SD of P (and in the baseline severity
latent per SD), so "log-odds per SD of dissociation" has one meaning for the generator and
for the analytics, which estimate it per SD of the mean peak CADSS over the first infusions.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, gammaincinv

from ketaflow.demo.settings import DemoSettings

PHQ9_MAX = 27  # 9 items scored 0-3 (Kroenke 2001)
CADSS_ITEMS = 23  # subjective items scored 0-4 (Bremner 1998)
CADSS_MAX = CADSS_ITEMS * 4


def cadss_propensity_gamma(settings: DemoSettings) -> tuple[float, float]:
    """(shape, scale) of the propensity P, fitted by moments (see the module docstring)."""
    m, s, c = settings.cadss_mean, settings.cadss_sd, settings.cadss_session_cv
    var_p = (s * s + m * m) / (1 + c * c) - m * m
    if m <= 0 or var_p <= 0:
        raise ValueError("CADSS mean must be positive and its SD large enough for the session variation.")
    return m * m / var_p, var_p / m


def cadss_propensity_sd(settings: DemoSettings) -> float:
    shape, scale = cadss_propensity_gamma(settings)
    return math.sqrt(shape) * scale


def _session_sigma(settings: DemoSettings) -> float:
    """SD of log E for a lognormal session factor E with mean 1 and the set coefficient of variation."""
    return math.sqrt(math.log1p(settings.cadss_session_cv**2))


def mean_cadss_reliability(settings: DemoSettings, infusions: int) -> float:
    """Reliability of the mean peak CADSS over infusions 1..`infusions` as a measure of P.

    The squared correlation of X = P * A with P, A = mean over n of E_n (1 - d)**(n - 1):
    a^2 var P / (a^2 var P + E[P^2] var A + r), with a = E[A], var A = c^2 sum((1 - d)**(2(n-1))) / N^2
    and r = 1 / (12 N) for rounding each score to a whole point. The log-odds per SD of X is
    about the log-odds per SD of P times its square root (regression dilution; Frost & Thompson,
    J R Stat Soc A 2000;163:173-189). Capping at 92 is ignored (about 2 first-infusion scores in 10,000).
    """
    shape, scale = cadss_propensity_gamma(settings)
    var_p = shape * scale * scale
    mean_sq_p = var_p + settings.cadss_mean**2
    steps = [(1 - settings.cadss_decline_fraction_per_infusion) ** k for k in range(infusions)]
    a = sum(steps) / infusions
    var_a = settings.cadss_session_cv**2 * sum(x * x for x in steps) / infusions**2
    signal = a * a * var_p
    return signal / (signal + mean_sq_p * var_a + 1 / (12 * infusions))


# The intercept's quadrature: the propensity at 4,000 equal-probability nodes (midpoints of
# its quantiles), baseline severity at 41 normal nodes over [-5, 5].
_PROPENSITY_NODES = 4000
_NORMAL_NODES = 41


def response_intercept(settings: DemoSettings) -> float:
    """The logistic intercept that makes the marginal response rate equal the target.

    The marginal rate is E[expit(b0 + b1 Zp + b2 Zb)], Zp the standardised gamma propensity
    (capped at 92 like the scale) and Zb standard normal, independent: the expectation is taken
    on a fixed grid (gamma quantiles at 4,000 equal-probability midpoints, a 41-point midpoint
    rule for the normal over [-5, 5]) and solved for b0 by Brent's method.
    """
    shape, scale = cadss_propensity_gamma(settings)
    u = (np.arange(_PROPENSITY_NODES) + 0.5) / _PROPENSITY_NODES
    p = np.minimum(CADSS_MAX, scale * gammaincinv(shape, u))
    zp = (p - settings.cadss_mean) / cadss_propensity_sd(settings)
    zb = -5 + 10 * (np.arange(_NORMAL_NODES) + 0.5) / _NORMAL_NODES
    wb = np.exp(-zb * zb / 2)
    wb /= wb.sum()
    linear = (
        settings.log_odds_response_per_sd_cadss * zp[:, None]
        + settings.log_odds_response_per_sd_baseline * zb[None, :]
    )

    def excess(b0: float) -> float:
        rate = float((expit(b0 + linear) * wb[None, :]).sum() / _PROPENSITY_NODES)
        return rate - settings.response_fraction

    return float(brentq(excess, -20.0, 20.0, xtol=1e-12))


def response_probability(
    settings: DemoSettings, intercept: float, z_cadss: float, z_baseline: float
) -> float:
    """A patient's probability of responding, given their standardised propensity and severity draws."""
    return float(
        expit(
            intercept
            + settings.log_odds_response_per_sd_cadss * z_cadss
            + settings.log_odds_response_per_sd_baseline * z_baseline
        )
    )


@dataclass(frozen=True)
class PatientCourse:
    baseline_phq9: int
    cadss_propensity: float  # points: the expected peak CADSS at the first infusion
    z_cadss: float  # the propensity in SDs from its mean (what response depends on)
    z_baseline: float
    responder: bool
    remitter: bool
    response_at: int  # the infusion number before which response is first seen
    final_fraction: float  # end-of-induction PHQ-9 as a fraction of baseline


def draw_course(rng: random.Random, settings: DemoSettings, intercept: float) -> PatientCourse:
    z_base = rng.gauss(0, 1)
    baseline = round(settings.baseline_phq9_mean + settings.baseline_phq9_sd * z_base)
    baseline = max(10, min(PHQ9_MAX, baseline))
    shape, scale = cadss_propensity_gamma(settings)
    propensity = min(float(CADSS_MAX), rng.gammavariate(shape, scale))
    z_cadss = (propensity - settings.cadss_mean) / cadss_propensity_sd(settings)
    responder = rng.random() < response_probability(settings, intercept, z_cadss, z_base)
    remit_given_response = settings.remission_fraction / settings.response_fraction
    remitter = responder and rng.random() < remit_given_response
    if remitter:
        final = rng.uniform(0.0, 4.0) / baseline
    elif responder:
        final = rng.uniform(min(5.0 / baseline, 0.45), 0.5)
    else:
        final = rng.uniform(0.6, 1.0)
    return PatientCourse(
        baseline_phq9=baseline,
        cadss_propensity=propensity,
        z_cadss=z_cadss,
        z_baseline=z_base,
        responder=responder,
        remitter=remitter,
        response_at=rng.randint(2, 6),
        final_fraction=final,
    )


def phq9_total(rng: random.Random, course: PatientCourse, infusion_no: int, induction: int) -> int:
    """PHQ-9 total answered before infusion `infusion_no` (1 = baseline)."""
    b = course.baseline_phq9
    if infusion_no <= 1:
        return b
    if course.responder:
        progress = min(1.0, (infusion_no - 1) / max(1, course.response_at - 1))
    else:
        progress = min(1.0, (infusion_no - 1) / max(1, induction - 1))
    frac = 1.0 - (1.0 - course.final_fraction) * progress
    if infusion_no > induction:  # maintenance: mild drift back, boosters pull it down again
        frac = min(1.0, frac + rng.uniform(0.0, 0.08))
    total = round(b * frac + rng.gauss(0, 1.2))
    return _clamp_to_course(total, course, reached=course.responder and infusion_no >= course.response_at)


def end_of_induction_phq9(rng: random.Random, course: PatientCourse) -> int:
    total = round(course.baseline_phq9 * course.final_fraction + rng.gauss(0, 0.8))
    return _clamp_to_course(total, course, reached=True)


def _clamp_to_course(total: int, course: PatientCourse, *, reached: bool) -> int:
    b = course.baseline_phq9
    total = max(0, min(PHQ9_MAX, total))
    if reached and course.remitter:
        return min(total, 4)
    if reached and course.responder:
        return max(min(total, b // 2), 5 if not course.remitter else 0)
    if not course.responder:
        return max(total, b // 2 + 1)
    return total


def spread_items(rng: random.Random, total: int, n_items: int, item_max: int) -> list[int]:
    """Item answers (each 0..item_max) that add up to `total`, spread at random."""
    total = max(0, min(total, n_items * item_max))
    items = [0] * n_items
    for _ in range(total):
        while True:
            i = rng.randrange(n_items)
            if items[i] < item_max:
                items[i] += 1
                break
    return items


def cadss_total(rng: random.Random, settings: DemoSettings, course: PatientCourse, infusion_no: int) -> int:
    """Peak CADSS total at infusion `infusion_no`: propensity x session factor x decline (see above)."""
    sigma = _session_sigma(settings)
    session = rng.lognormvariate(-sigma * sigma / 2, sigma)
    decline = (1 - settings.cadss_decline_fraction_per_infusion) ** (infusion_no - 1)
    return max(0, min(CADSS_MAX, round(course.cadss_propensity * session * decline)))
