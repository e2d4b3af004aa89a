"""The board's latest-reading assessment equals the full series' last assessment."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ketaflow.services.infusion import assess_latest, assess_vitals
from ketaflow.store import models as m

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def reading(rng: random.Random, minute: int) -> m.VitalSign:
    return m.VitalSign(
        measured_at=T0 + timedelta(minutes=minute),
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
