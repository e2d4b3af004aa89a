"""The board's latest-reading assessment equals the full series' last assessment."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ketaflow.services.infusion import assess_latest, assess_vitals
from ketaflow.store import models as m
from ketaflow.vocabulary import VitalPhase

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def reading(rng: random.Random, minute: int, phase: VitalPhase | None = None) -> m.VitalSign:
    return m.VitalSign(
        measured_at=T0 + timedelta(minutes=minute),
        phase=phase,
        systolic_mmhg=rng.randint(85, 205),
        diastolic_mmhg=rng.randint(45, 125),
        heart_rate_bpm=rng.randint(40, 140),
        spo2_percent=rng.randint(86, 100),
        respiratory_rate_per_min=rng.randint(6, 30),
    )


def test_the_latest_reading_is_assessed_as_in_the_whole_series() -> None:
    rng = random.Random(20261204)
    assert assess_latest([]) is None
    levels = set()
    for _ in range(300):
        rows = [reading(rng, 5 * i) for i in range(rng.randint(1, 12))]
        latest = assess_latest(rows)
        assert latest == assess_vitals(rows)[-1]
        assert latest is not None
        levels.add(latest.level)
    assert {"normal", "watch", "pause", "stop"} <= levels  # the draws reach every level


def test_the_latest_infusion_reading_is_assessed_as_in_the_whole_series() -> None:
    """While the pump runs the confirmed-pause rule reads the earlier readings in its window and
    the symptoms charted before: the board's one assessment must read them as the chart does."""
    rng = random.Random(20261206)
    levels = set()
    for _ in range(300):
        n = rng.randint(1, 12)
        rows = [reading(rng, 0, VitalPhase.BASELINE)]
        rows += [reading(rng, rng.choice((3, 4, 5, 7)) * i, VitalPhase.INFUSION) for i in range(1, n)]
        rows[-1].sedation_score = rng.choice((None, 2, 3, 4, 5))
        symptoms = [T0 + timedelta(minutes=rng.randint(0, 60)) for _ in range(rng.randint(0, 2))]
        latest = assess_latest(rows, symptoms)
        assert latest == assess_vitals(rows, symptoms)[-1]
        assert latest is not None
        levels.add(latest.level)
    assert {"watch", "pause", "stop"} <= levels  # a recheck, a confirmed pause, a stop
