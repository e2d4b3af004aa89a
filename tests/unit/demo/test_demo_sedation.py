"""The demo's sedation levels and discharge screens: plausible, complete where the rules expect them,
and drawn apart from the generator's other rows (same rows with or without them)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from ketaflow.clinical import BloodPressure, VitalSigns, classify_vitals, default_rules
from ketaflow.demo.sedation import MILD_SEDATION_FRACTION, peak_sedation
from tests.unit.demo.test_generator import rows


def _vitals_by_session() -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for v in rows()["vital_signs"]:
        out[v["session_id"]].append(v)
    for readings in out.values():
        readings.sort(key=lambda v: v["measured_at"])
    return out


def test_every_reading_has_an_alert_or_mildly_sedated_level() -> None:
    levels = {v["sedation_score"] for v in rows()["vital_signs"]}
    assert levels == {4, 5}
    for readings in _vitals_by_session().values():
        assert all(v["sedation_score"] == 5 for v in readings if v["phase"] == "baseline")
        assert readings[-1]["sedation_score"] == 5  # alert again by the discharge


def test_about_a_quarter_of_infusions_are_mildly_sedated() -> None:
    by_session = _vitals_by_session()
    n = len(by_session)
    sedated = sum(any(v["sedation_score"] == 4 for v in readings) for readings in by_session.values())
    tolerance = 3 * math.sqrt(MILD_SEDATION_FRACTION * (1 - MILD_SEDATION_FRACTION) / n)
    assert abs(sedated / n - MILD_SEDATION_FRACTION) <= tolerance, (sedated, n)


def test_no_demo_reading_misses_what_the_rules_expect_during_the_infusion() -> None:
    rules = default_rules()
    for v in rows()["vital_signs"]:
        if v["phase"] != "infusion":
            continue
        signs = VitalSigns(
            # Built directly: a few demo pressures are not ones parse_bp accepts as typed.
            BloodPressure(v["systolic_mmhg"], v["diastolic_mmhg"]),
            v["heart_rate_bpm"],
            v["spo2_percent"],
            v["respiratory_rate_per_min"],
            sedation_score=v["sedation_score"],
        )
        missing = [a for a in classify_vitals(signs, phase="infusion", rules=rules).alerts if a.value is None]
        assert missing == []


def test_every_demo_discharge_records_the_check() -> None:
    screens = {(d["mental_status"], d["suicidal_ideation"]) for d in rows()["discharges"]}
    assert screens == {("baseline", "none")}


def test_the_sedation_draw_depends_on_the_session_only() -> None:
    sid = rows()["infusion_sessions"][0]["id"]
    assert peak_sedation(sid) == peak_sedation(sid)
