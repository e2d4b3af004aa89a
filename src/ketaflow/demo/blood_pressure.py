"""The demo's blood-pressure physiology: a patient's resting pressure, one infusion's rise, each reading.

Every number is a setting (`ketaflow.demo.settings.DemoSettings`, with its source or the words
"no source found"). The model, and why it has this shape (issue 13):

- a patient's own resting pressure, drawn once; each visit's resting pressure varies around it;
- the ketamine rise of one infusion, scaled by the time course (`rise_shape`);
- each charted reading adds measurement noise.

The published spread of the rise (Yale 2024: SD 11.2 / 8.45 mmHg) is the spread of the *change
between two charted readings* (at 40 minutes and before the start), so it already holds the two
readings' noise; the generator draws the rise with that noise taken out (`rise_sd`), or every
reading would carry the noise twice. Systolic and diastolic move together (one correlation for the
patient, the visit, the rise and the noise), and a reading never has its diastolic within a
quarter of the systolic (`MIN_PULSE_PRESSURE_FRACTION`).

Draws come from a stream of their own (`bp_stream`), so the model can change without moving the
outcome draws of the rest of the generator.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ketaflow.demo.settings import DemoSettings

# A pulse pressure (systolic minus diastolic) below a quarter of the systolic is abnormally
# narrow (heart failure, shock, aortic stenosis): a clinical rule of thumb; no primary source
# found here (patient-information pages state it). The generator keeps every reading at or above
# it, which also rules out a diastolic at or above the systolic.
MIN_PULSE_PRESSURE_FRACTION = 0.25

# How the rise fades once the pump is off or paused: e-folding time in minutes. Blood pressure is
# back near baseline within 1.5 h of the end of the infusion (Szarmach J et al., Neuropsychiatr Dis
# Treat 2020;16:2539-2551, doi:10.2147/NDT.S273287); the 15 minutes is our choice within that (the
# value the generator used before), no source for the exact figure.
FADE_MINUTES = 15.0

# How the rise builds while the pump runs: (fraction of the infusion given) ** RISE_EXPONENT, so it
# peaks at the end of a 40-minute infusion, as the Yale chart review's mean change peaks at 40 min
# (Riva-Posse 2018: at 30 min). The exponent (an early, concave rise) is our choice; no source.
RISE_EXPONENT = 0.7


def bp_stream(settings: DemoSettings, key: object) -> random.Random:
    """A random stream of its own for one patient's or one infusion's blood pressure."""
    return random.Random(f"bp:{settings.seed}:{key}")


def _pair(rng: random.Random, rho: float) -> tuple[float, float]:
    """Two standard normals with correlation rho."""
    z1, z2 = rng.gauss(0, 1), rng.gauss(0, 1)
    return z1, rho * z1 + math.sqrt(1 - rho * rho) * z2


def resting_bp(settings: DemoSettings, rng: random.Random) -> tuple[float, float]:
    """A patient's own resting systolic and diastolic pressure (mmHg)."""
    s = settings
    z_sys, z_dia = _pair(rng, s.bp_correlation)
    return (
        s.resting_systolic_mean + s.resting_systolic_sd * z_sys,
        s.resting_diastolic_mean + s.resting_diastolic_sd * z_dia,
    )


def rise_sd(published_sd: float, reading_sd: float) -> float:
    """The spread of the rise itself, from the published spread of the change between two readings.

    change = rise + noise(at 40 min) - noise(before): var(change) = var(rise) + 2 var(noise).
    """
    return math.sqrt(max(0.0, published_sd**2 - 2 * reading_sd**2))


@dataclass(frozen=True)
class InfusionBP:
    """One infusion's blood pressure: the visit's resting pressure and the rise at its peak."""

    systolic: float
    diastolic: float
    systolic_rise: float
    diastolic_rise: float
    rng: random.Random

    def reading(self, shape: float, settings: DemoSettings) -> tuple[int, int]:
        """One charted reading (systolic, diastolic) at this point of the rise (0 none, 1 the peak)."""
        s = settings
        n_sys, n_dia = _pair(self.rng, s.bp_correlation)
        systolic = round(self.systolic + self.systolic_rise * shape + s.reading_systolic_sd * n_sys)
        diastolic = round(self.diastolic + self.diastolic_rise * shape + s.reading_diastolic_sd * n_dia)
        return systolic, min(diastolic, math.floor(systolic * (1 - MIN_PULSE_PRESSURE_FRACTION)))


def infusion_bp(settings: DemoSettings, resting: tuple[float, float], rng: random.Random) -> InfusionBP:
    """Today's resting pressure (around the patient's own) and this infusion's rise."""
    s = settings
    v_sys, v_dia = _pair(rng, s.bp_correlation)
    r_sys, r_dia = _pair(rng, s.bp_correlation)
    sys_sd = rise_sd(s.systolic_rise_sd, s.reading_systolic_sd)
    dia_sd = rise_sd(s.diastolic_rise_sd, s.reading_diastolic_sd)
    return InfusionBP(
        systolic=resting[0] + s.visit_systolic_sd * v_sys,
        diastolic=resting[1] + s.visit_diastolic_sd * v_dia,
        # A fall of more than 5 mmHg is not drawn: ketamine raises blood pressure (our floor, no source).
        systolic_rise=max(-5.0, s.systolic_rise_mean + sys_sd * r_sys),
        diastolic_rise=max(-5.0, s.diastolic_rise_mean + dia_sd * r_dia),
        rng=rng,
    )


def rise_shape(minutes_given: float, minutes: float) -> float:
    """The share of the peak rise reached after ``minutes_given`` of a ``minutes``-long infusion."""
    return float(min(1.0, max(0.0, minutes_given / minutes)) ** RISE_EXPONENT)


def faded(shape: float, minutes_since: float) -> float:
    """The rise ``minutes_since`` the pump stopped (or paused) at ``shape``."""
    return shape * math.exp(-minutes_since / FADE_MINUTES)
