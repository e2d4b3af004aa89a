"""The sedation scale charted with the vitals (MOAA/S), and the readings expected during the infusion."""

from __future__ import annotations

import math

import pytest

from ketaflow.clinical import VitalLevel, VitalSigns, classify_vitals, default_rules, load_rules, parse_bp
from ketaflow.errors import InvalidInput

N, W, P, S = VitalLevel.NORMAL, VitalLevel.WATCH, VitalLevel.PAUSE, VitalLevel.STOP

# The MOAA/S as published (Chernik 1990, modified 0-5 form): the wording of each level.
MOAAS = {
    5: "Responds readily to name spoken in normal tone",
    4: "Lethargic response to name spoken in normal tone",
    3: "Responds only after name is called loudly and/or repeatedly",
    2: "Responds only after mild prodding or shaking",
    1: "Responds only after painful trapezius squeeze",
    0: "Does not respond to painful trapezius squeeze",
}


def test_the_scale_is_the_moaas_with_its_published_wording_and_sources() -> None:
    sedation = default_rules().vitals.sedation
    assert sedation.scale == "MOAA/S"
    assert {lv.score: lv.wording for lv in sedation.levels} == MOAAS
    assert "Chernik" in sedation.source and "1990" in sedation.source
    assert "SPRAVATO" in sedation.source and "2026-03-13" in sedation.source
    assert "ASA Continuum" in sedation.source


@pytest.mark.parametrize(("score", "level"), [(5, N), (4, W), (3, P), (2, P), (1, S), (0, S)])
def test_it_grades_each_sedation_level(score: int, level: VitalLevel) -> None:
    assessment = classify_vitals(VitalSigns(sedation_score=score))
    assert assessment.level is level
    if level is N:
        assert assessment.alerts == ()
        return
    (alert,) = assessment.alerts
    assert alert.parameter == "sedation" and alert.value == score and alert.level is level
    assert f"MOAA/S {score}" in alert.message and MOAAS[score] in alert.message
    assert alert.source == default_rules().vitals.sedation.source
    # The level's own action is given with the level's general one.
    assert alert.action and alert.action in assessment.actions
    assert assessment.actions[0] == default_rules().vitals.actions.for_level(level)


def test_deep_sedation_stops_the_infusion_and_says_to_support_the_airway() -> None:
    assessment = classify_vitals(VitalSigns(parse_bp("128/82"), 72, 97, 12, sedation_score=1))
    assert assessment.level is S
    assert any("airway" in action and "stop the infusion" in action for action in assessment.actions)
    assert "deep sedation" in assessment.alerts[0].message


@pytest.mark.parametrize("bad", [-1, 6, 2.5, math.nan])
def test_a_level_off_the_scale_is_refused_in_one_sentence(bad: float) -> None:
    with pytest.raises(InvalidInput, match=r"Sedation \(MOAA/S\) must be a whole number from 0 to 5"):
        classify_vitals(VitalSigns(sedation_score=bad))  # type: ignore[arg-type]


def test_a_reading_during_the_infusion_without_spo2_or_sedation_is_charted_with_alerts() -> None:
    assessment = classify_vitals(VitalSigns(parse_bp("128/82"), 72), phase="infusion")
    assert assessment.level is W
    by = {a.parameter: a for a in assessment.alerts}
    assert set(by) == {"spo2_missing", "sedation_missing"}
    spo2 = by["spo2_missing"]
    assert spo2.value is None and "SpO2 not recorded" in spo2.message
    assert spo2.action is not None and "pulse oximeter" in spo2.action and spo2.action in assessment.actions
    assert "SPRAVATO" in spo2.source and "2026-03-13" in spo2.source and "pulse oximetry" in spo2.source
    assert "MOAA/S" in by["sedation_missing"].message


@pytest.mark.parametrize("phase", [None, "baseline", "recovery"])
def test_outside_the_infusion_missing_readings_raise_nothing(phase: str | None) -> None:
    assert classify_vitals(VitalSigns(parse_bp("128/82"), 72), phase=phase).alerts == ()


def test_a_complete_reading_during_the_infusion_is_normal() -> None:
    full = VitalSigns(parse_bp("128/82"), 72, 98, 14, sedation_score=5)
    assessment = classify_vitals(full, phase="infusion")
    assert assessment.level is N and assessment.alerts == ()


def test_a_missing_reading_does_not_hide_a_worse_one() -> None:
    assessment = classify_vitals(VitalSigns(parse_bp("204/122"), 96, sedation_score=5), phase="infusion")
    assert assessment.level is S
    assert {a.parameter for a in assessment.alerts} >= {"systolic_high", "spo2_missing"}


def test_a_clinic_can_expect_readings_in_recovery_too() -> None:
    rules = load_rules(
        {"vitals": {"expected": {"phases": ["infusion", "recovery"], "source": "Clinic policy 2027-01-04"}}}
    )
    recovery = classify_vitals(VitalSigns(parse_bp("128/82"), 72), phase="recovery", rules=rules)
    assert {a.parameter for a in recovery.alerts} == {"spo2_missing", "sedation_missing"}


@pytest.mark.parametrize(
    ("override", "words"),
    [
        (
            {"discharge": {"sedation": {"min_score": 6, "source": "Clinic policy 2027-01-04"}}},
            "sedation scale",
        ),
        (
            {"vitals": {"expected": {"fields": ["temperature"], "source": "Clinic policy 2027-01-04"}}},
            "fields",
        ),
        (
            {
                "vitals": {
                    "expected": {"fields": ["spo2", "heart_rate"], "source": "Clinic policy 2027-01-04"}
                }
            },
            "needs its missing message",
        ),
        (
            {
                "vitals": {
                    "sedation": {
                        "levels": [
                            {"score": 1, "wording": "Awake", "depth": "awake", "level": "normal"},
                            {
                                "score": 2,
                                "wording": "Asleep",
                                "depth": "deep",
                                "level": "stop",
                                "action": "Call",
                            },
                        ],
                        "source": "Clinic policy 2027-01-04",
                    }
                }
            },
            "scores 0 to n",
        ),
    ],
)
def test_a_clinic_override_that_breaks_the_scale_is_refused(override: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        load_rules(override)
