"""Vital-sign alerts at every threshold (just below, at, just above) and against baseline."""

from __future__ import annotations

import pytest

from ketaflow.clinical import VitalLevel, VitalSigns, classify_vitals, parse_bp
from ketaflow.errors import InvalidInput

N, W, P, S = VitalLevel.NORMAL, VitalLevel.WATCH, VitalLevel.PAUSE, VitalLevel.STOP


def level_of(**kw: object) -> VitalLevel:
    return classify_vitals(VitalSigns(**kw)).level  # type: ignore[arg-type]


def bp(s: int, d: int) -> VitalSigns:
    return VitalSigns(bp=parse_bp(f"{s}/{d}"))


@pytest.mark.parametrize(
    ("systolic", "level"),
    [
        # issue 13: low side shifted one NEWS2 band (91-100 watch, <= 90 pause); high side pauses
        # at severe hypertension (180) and stops at 200, not at JNC 7 stage 2 (160)
        (89, P),
        (90, P),
        (91, W),
        (100, W),
        (101, N),
        (110, N),
        (111, N),
        (139, N),
        (140, W),
        (159, W),
        (160, W),
        (179, W),
        (180, P),
        (199, P),
        (200, S),
    ],
)
def test_it_grades_systolic_pressure(systolic: int, level: VitalLevel) -> None:
    assert classify_vitals(bp(systolic, 60)).level is level


@pytest.mark.parametrize(
    ("diastolic", "level"),
    [(89, N), (90, W), (99, W), (100, W), (109, W), (110, P), (119, P), (120, S)],
)
def test_it_grades_diastolic_pressure(diastolic: int, level: VitalLevel) -> None:
    assert classify_vitals(bp(130, diastolic)).level is level


@pytest.mark.parametrize(
    ("hr", "level"),
    [
        (39, S),
        (40, S),
        (41, W),
        (50, W),
        (51, N),
        (90, N),
        (91, W),
        (110, W),
        (111, P),
        (130, P),
        (131, S),
    ],
)
def test_it_grades_heart_rate(hr: float, level: VitalLevel) -> None:
    assert level_of(heart_rate_per_min=hr) is level


@pytest.mark.parametrize(
    ("spo2", "level"),
    [(91, S), (92, P), (93, P), (94, W), (95, W), (96, N), (100, N)],
)
def test_it_grades_spo2(spo2: float, level: VitalLevel) -> None:
    assert level_of(spo2_percent=spo2) is level


@pytest.mark.parametrize(
    ("rr", "level"),
    [(7, S), (8, S), (9, W), (11, W), (12, N), (20, N), (21, P), (24, P), (25, S)],
)
def test_it_grades_respiratory_rate(rr: float, level: VitalLevel) -> None:
    assert level_of(respiratory_rate_per_min=rr) is level


@pytest.mark.parametrize(
    ("systolic", "level"),
    [
        (119, N),
        (120, W),
        (129, W),
        (130, W),
    ],  # baseline 100: +20% watch (issue 13: no pause for a rise alone)
)
def test_it_grades_the_rise_from_baseline(systolic: int, level: VitalLevel) -> None:
    result = classify_vitals(bp(systolic, 70), baseline=bp(100, 60))
    assert result.level is level


def test_it_classifies_the_issue_example() -> None:
    result = classify_vitals(
        VitalSigns(parse_bp("176/104"), 96, 97, 16), baseline=VitalSigns(parse_bp("128/82"))
    )
    # issue 13: 176/104 is below the severe-hypertension pause level (180/110): watch, recheck
    assert result.level is W
    assert "Recheck" in result.actions[0]
    assert {a.parameter for a in result.alerts} == {
        "systolic_high",
        "diastolic_high",
        "heart_rate_high",
        "systolic_rise",
    }
    assert all(a.source for a in result.alerts)


def test_it_says_what_to_do_at_each_level() -> None:
    assert "call the psychiatrist now" in classify_vitals(bp(205, 100)).actions[0]
    assert "Continue" in classify_vitals(bp(120, 80)).actions[0]


@pytest.mark.parametrize("text", ["abc", "", "120", "120/", "120-80", "1200/80", "80/120", "400/80"])
def test_it_refuses_an_unreadable_blood_pressure(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_bp(text)


def test_it_accepts_spaces_in_a_blood_pressure() -> None:
    assert str(parse_bp(" 128 / 82 ")) == "128/82"


@pytest.mark.parametrize(
    "kw",
    [{"heart_rate_per_min": 0}, {"spo2_percent": 101}, {"respiratory_rate_per_min": -1}],
)
def test_it_refuses_impossible_readings(kw: dict[str, float]) -> None:
    with pytest.raises(InvalidInput, match="must be between"):
        classify_vitals(VitalSigns(**kw))  # type: ignore[arg-type]
