"""The demo's blood-pressure model (`ketaflow.demo.blood_pressure`), against its stated sources."""

from __future__ import annotations

import math
import random
import statistics

from ketaflow.demo.blood_pressure import InfusionBP, resting_bp, rise_sd, rise_shape
from ketaflow.demo.settings import DemoSettings

SETTINGS = DemoSettings(clinics=1, patients=10)


def test_the_rise_is_drawn_with_the_two_readings_noise_taken_out() -> None:
    # var(change between two readings) = var(rise) + 2 var(reading noise)
    assert math.isclose(rise_sd(11.2, 4.0), math.sqrt(11.2**2 - 2 * 4.0**2))
    assert rise_sd(3.0, 4.0) == 0.0  # never imaginary


def test_resting_pressure_has_the_nhanes_means() -> None:
    rng = random.Random(3)
    draws = [resting_bp(SETTINGS, rng) for _ in range(20_000)]
    systolic, diastolic = zip(*draws, strict=True)
    # Wright JD et al., Natl Health Stat Report 2011;(35): 122/71 mmHg; three standard errors
    assert abs(statistics.mean(systolic) - 122) < 3 * 12 / 20_000**0.5
    assert abs(statistics.mean(diastolic) - 71) < 3 * 8 / 20_000**0.5
    assert abs(statistics.correlation(systolic, diastolic) - SETTINGS.bp_correlation) < 0.03


def test_a_reading_keeps_a_pulse_pressure_of_a_quarter_of_the_systolic() -> None:
    odd = InfusionBP(systolic=100, diastolic=99, systolic_rise=0, diastolic_rise=30, rng=random.Random(1))
    for _ in range(200):
        systolic, diastolic = odd.reading(1.0, SETTINGS)
        assert diastolic <= 0.75 * systolic < systolic


def test_the_rise_peaks_at_the_end_of_the_infusion() -> None:
    assert rise_shape(0, 40) == 0.0
    assert rise_shape(40, 40) == 1.0 == rise_shape(55, 40)
    assert 0 < rise_shape(10, 40) < rise_shape(30, 40) < 1
