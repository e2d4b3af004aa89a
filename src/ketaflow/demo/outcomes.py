"""Patient-level outcome draws for the demo: who responds, who remits, PHQ-9 and CADSS paths."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ketaflow.demo.settings import DemoSettings

PHQ9_MAX = 27  # 9 items scored 0-3 (Kroenke 2001)
CADSS_ITEMS = 23  # subjective items scored 0-4 (Bremner 1998)


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def response_intercept(settings: DemoSettings) -> float:
    """The logistic intercept that makes the marginal response rate equal the target.

    The linear predictor's random part is normal with variance b1^2 + b2^2 (independent
    standard-normal latents), so the marginal rate is E[expit(b0 + s Z)]; solved by
    bisection with a fixed 41-point midpoint rule over Z in [-5, 5].
    """
    s = math.hypot(settings.log_odds_response_per_sd_cadss, settings.log_odds_response_per_sd_baseline)
    zs = [-5 + 10 * (i + 0.5) / 41 for i in range(41)]
    ws = [math.exp(-z * z / 2) for z in zs]
    total_w = sum(ws)

    def marginal(b0: float) -> float:
        return sum(w * _expit(b0 + s * z) for w, z in zip(ws, zs, strict=True)) / total_w

    lo, hi = -5.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if marginal(mid) < settings.response_fraction:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def response_probability(
    settings: DemoSettings, intercept: float, z_cadss: float, z_baseline: float
) -> float:
    """A patient's probability of responding, given their latent dissociation and severity draws."""
    return _expit(
        intercept
        + settings.log_odds_response_per_sd_cadss * z_cadss
        + settings.log_odds_response_per_sd_baseline * z_baseline
    )


@dataclass(frozen=True)
class PatientCourse:
    baseline_phq9: int
    z_cadss: float
    z_baseline: float
    responder: bool
    remitter: bool
    response_at: int  # the infusion number before which response is first seen
    final_fraction: float  # end-of-induction PHQ-9 as a fraction of baseline


def draw_course(rng: random.Random, settings: DemoSettings, intercept: float) -> PatientCourse:
    z_base = rng.gauss(0, 1)
    baseline = round(settings.baseline_phq9_mean + settings.baseline_phq9_sd * z_base)
    baseline = max(10, min(PHQ9_MAX, baseline))
    z_cadss = rng.gauss(0, 1)
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
    raw = (
        settings.cadss_mean
        + settings.cadss_sd * course.z_cadss
        + rng.gauss(0, 2.0)
        - settings.cadss_decline_per_infusion * (infusion_no - 1)
    )
    return max(0, min(CADSS_ITEMS * 4, round(raw)))
