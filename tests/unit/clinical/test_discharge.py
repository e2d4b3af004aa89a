"""Discharge readiness: every criterion at its boundary, and the after-care text."""

from __future__ import annotations

from typing import Any

import pytest

from ketaflow.clinical import (
    VitalSigns,
    aftercare_instructions,
    default_rules,
    evaluate_discharge,
    parse_bp,
    parse_driver,
)
from ketaflow.errors import InvalidInput


def ready_case(**overrides: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "minutes_since_end": 120,
        "vitals": VitalSigns(parse_bp("132/84"), 80, 98, sedation_score=5),
        "aldrete": 9,
        "walks_with_help": True,
        "nausea": "none",
        "driver": "Dana Reyes, 555-0100",
        "instructions_given": True,
        "mental_status": "baseline",
        "suicidal_ideation": "none",
    }
    case.update(overrides)
    return case


def unmet(**overrides: Any) -> set[str]:
    return {u.criterion for u in evaluate_discharge(**ready_case(**overrides)).unmet}


def test_it_is_ready_when_every_criterion_is_met() -> None:
    result = evaluate_discharge(**ready_case())
    assert result.ready is True
    assert result.unmet == ()
    assert result.driver is not None and result.driver.phone == "555-0100"


def test_it_lists_every_unmet_criterion_for_the_issue_example() -> None:
    result = evaluate_discharge(**ready_case(minutes_since_end=45, instructions_given=False))
    assert result.ready is False
    assert {u.criterion for u in result.unmet} == {"observation", "instructions"}
    assert all(u.source for u in result.unmet)


@pytest.mark.parametrize(("minutes", "met"), [(119, False), (120, True), (121, True)])
def test_it_needs_two_hours_of_observation(minutes: float, met: bool) -> None:
    assert ("observation" not in unmet(minutes_since_end=minutes)) is met


@pytest.mark.parametrize(("score", "met"), [(8, False), (9, True), (10, True)])
def test_it_needs_an_aldrete_score_of_9(score: int, met: bool) -> None:
    assert ("recovery_score" not in unmet(aldrete=score)) is met


@pytest.mark.parametrize(("score", "met"), [(8, False), (9, True), (10, True)])
def test_it_accepts_a_padss_score_of_9(score: int, met: bool) -> None:
    assert ("recovery_score" not in unmet(aldrete=None, padss=score)) is met


def test_it_needs_a_recovery_score() -> None:
    assert "recovery_score" in unmet(aldrete=None)


@pytest.mark.parametrize(
    ("nausea", "met"), [("none", True), ("mild", True), ("moderate", False), ("severe", False)]
)
def test_it_needs_nausea_controlled(nausea: str, met: bool) -> None:
    assert ("nausea" not in unmet(nausea=nausea)) is met


def test_it_needs_the_patient_to_walk_with_help() -> None:
    assert "walking" in unmet(walks_with_help=False)


@pytest.mark.parametrize(
    ("driver", "met"),
    [
        ("Dana Reyes, 555-0100", True),
        ("Dana Reyes 555 0100", True),
        ("Uber booked by sister Ana, +1 (617) 555-0100", True),
        ("Dana Reyes", False),  # no phone
        ("555-0100", False),  # no name
        ("Dana, 5550", False),  # too few digits
        (None, False),
        ("", False),
    ],
)
def test_it_needs_a_driver_with_name_and_phone(driver: str | None, met: bool) -> None:
    assert ("driver" not in unmet(driver=driver)) is met
    assert (parse_driver(driver) is not None) is met


@pytest.mark.parametrize(
    ("bp", "met"),
    [("159/99", True), ("160/90", False), ("100/70", False), ("110/70", True)],
)
def test_it_needs_vitals_back_within_limits(bp: str, met: bool) -> None:
    assert ("vitals" not in unmet(vitals=VitalSigns(parse_bp(bp), 80, 98))) is met


def test_it_needs_vitals_charted() -> None:
    result = evaluate_discharge(**ready_case(vitals=VitalSigns(parse_bp("120/80"))))
    messages = [u.message for u in result.unmet]
    assert any("heart rate, SpO2" in m for m in messages)


def test_it_needs_the_instructions_given() -> None:
    assert "instructions" in unmet(instructions_given=False)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"minutes_since_end": -1}, "cannot be negative"),
        ({"minutes_since_end": float("nan")}, "must be a number; got nan"),
        ({"aldrete": 11}, "Aldrete score must be 0 to 10; got 11."),
        ({"padss": -1}, "PADSS score must be 0 to 10"),
        ({"nausea": "a bit"}, "Nausea must be one of none, mild, moderate, severe"),
        ({"mental_status": "foggy"}, "Mental status must be baseline or altered; got 'foggy'."),
        ({"suicidal_ideation": "maybe"}, "Suicidal ideation must be none or present; got 'maybe'."),
    ],
)
def test_it_refuses_bad_input_in_one_sentence(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        evaluate_discharge(**ready_case(**kw))


def test_it_writes_the_aftercare_instructions() -> None:
    text = " ".join(aftercare_instructions("617-555-0199"))
    assert "next day" in text and "restful sleep" in text
    assert "alcohol" in text
    assert "Xanax" in text and "Klonopin" in text
    assert "617-555-0199" in text
    assert "988" in text
    assert "{clinic_phone}" not in " ".join(aftercare_instructions())


def test_it_needs_the_mental_status_back_to_baseline() -> None:
    rule = default_rules().discharge.mental_status
    (item,) = evaluate_discharge(**ready_case(mental_status="altered")).unmet
    assert item.criterion == "mental_status" and item.message == rule.unmet
    assert "not back to baseline" in item.message and "Anesthesiology 2002" in item.source


def test_suicidal_ideation_at_discharge_blocks_it_and_says_what_to_do() -> None:
    result = evaluate_discharge(**ready_case(suicidal_ideation=" Present "))
    assert result.ready is False
    (item,) = result.unmet
    assert item.criterion == "suicidal_ideation"
    assert item.message == (
        "Suicidal ideation present at discharge: do not discharge; the psychiatrist must assess now."
    )
    assert "C-SSRS" in item.source and "McInnes" in item.source and "2022" in item.source


def test_the_psychiatrists_assessment_clears_suicidal_ideation() -> None:
    result = evaluate_discharge(**ready_case(suicidal_ideation="present", suicide_risk_cleared=True))
    assert result.ready is True


def test_an_unasked_screen_and_an_unjudged_mental_status_are_each_listed() -> None:
    d = default_rules().discharge
    result = evaluate_discharge(**ready_case(mental_status=None, suicidal_ideation=None))
    assert {u.criterion: u.message for u in result.unmet} == {
        "mental_status": d.mental_status.missing,
        "suicidal_ideation": d.suicidal_ideation.missing,
    }


@pytest.mark.parametrize(("sedation", "met"), [(5, True), (4, False), (0, False), (None, False)])
def test_it_needs_the_patient_alert_on_the_sedation_scale(sedation: int | None, met: bool) -> None:
    vitals = VitalSigns(parse_bp("132/84"), 80, 98, sedation_score=sedation)
    result = evaluate_discharge(**ready_case(vitals=vitals))
    assert ("sedation" not in {u.criterion for u in result.unmet}) is met
    if not met:
        item = next(u for u in result.unmet if u.criterion == "sedation")
        assert "MOAA/S" in item.message and "Anesthesiology 2002" in item.source


def test_the_screen_questions_are_in_the_rules() -> None:
    rule = default_rules().discharge.suicidal_ideation
    assert rule.instrument.startswith("C-SSRS screener")
    assert len(rule.questions) == 2 and all(q.endswith("?") for q in rule.questions)
