"""Issue 19 item 10: every vital-sign alert says what to do in full, from the rule's own action.

"Systolic blood pressure 184 mmHg is high: stop." did not say what to stop. The sentence now ends
with the action the rules give for the alert (its own action, else its level's action in
`[vitals.actions]`), so the wording lives in one place: the rules file.
"""

from __future__ import annotations

import pytest

from ketaflow.clinical import (
    BloodPressure,
    EarlierReading,
    VitalLevel,
    VitalSigns,
    assess_infusion_reading,
    classify_vitals,
    default_rules,
)

ACTIONS = default_rules().vitals.actions


def _tail(text: str) -> str:
    """The action as it closes an alert sentence (first letter lower-cased)."""
    return text[0].lower() + text[1:]


@pytest.mark.parametrize(
    ("signs", "parameter", "level"),
    [
        (VitalSigns(bp=BloodPressure(205, 100)), "systolic_high", VitalLevel.STOP),
        (VitalSigns(bp=BloodPressure(150, 85)), "systolic_high", VitalLevel.WATCH),
        (VitalSigns(heart_rate_per_min=120), "heart_rate_high", VitalLevel.PAUSE),
        (VitalSigns(spo2_percent=90), "spo2_low", VitalLevel.STOP),
        (VitalSigns(respiratory_rate_per_min=22), "respiratory_rate_high", VitalLevel.PAUSE),
    ],
)
def test_an_alert_ends_with_its_levels_action_in_full(
    signs: VitalSigns, parameter: str, level: VitalLevel
) -> None:
    alert = next(a for a in classify_vitals(signs).alerts if a.parameter == parameter)
    assert alert.level is level
    assert alert.message.endswith(_tail(ACTIONS.for_level(level)))
    assert not alert.message.endswith((": stop.", ": pause.", ": watch."))


def test_the_issue_example_says_what_to_stop() -> None:
    stop = next(
        a
        for a in classify_vitals(VitalSigns(bp=BloodPressure(205, 112))).alerts
        if a.parameter == "systolic_high"
    )
    assert stop.message.startswith(
        "Systolic blood pressure 205 mmHg is high: stop the infusion and call the psychiatrist"
    )


def test_a_relative_rise_says_what_to_do() -> None:
    alerts = classify_vitals(
        VitalSigns(bp=BloodPressure(130, 80)), baseline=VitalSigns(bp=BloodPressure(100, 60))
    ).alerts
    rise = next(a for a in alerts if a.parameter == "systolic_rise")
    assert rise.message.endswith(_tail(ACTIONS.watch))


def test_sedation_and_missing_readings_say_their_own_action() -> None:
    result = classify_vitals(VitalSigns(bp=BloodPressure(120, 80), sedation_score=1), phase="infusion")
    by = {a.parameter: a for a in result.alerts}
    assert by["sedation"].action and by["sedation"].message.endswith(_tail(by["sedation"].action))
    assert "stop the infusion" in by["sedation"].message
    assert by["spo2_missing"].action and by["spo2_missing"].message.endswith(_tail(by["spo2_missing"].action))


def test_an_unconfirmed_pause_says_recheck_not_pause() -> None:
    # One cuff value at the pause level asks for a recheck: the alert must not tell the nurse to pause.
    c = default_rules().vitals.confirmation
    recheck = c.recheck_action.format(minutes=c.recheck_minutes, window=c.window_minutes)
    first = assess_infusion_reading(VitalSigns(bp=BloodPressure(184, 100), spo2_percent=98, sedation_score=5))
    assert first.level is VitalLevel.WATCH
    alert = next(a for a in first.alerts if a.parameter == "systolic_high")
    assert alert.message == f"Systolic blood pressure 184 mmHg is high: {_tail(recheck)}"
    confirmed = assess_infusion_reading(
        VitalSigns(bp=BloodPressure(184, 100), spo2_percent=98, sedation_score=5),
        earlier=[EarlierReading(5, VitalSigns(bp=BloodPressure(186, 104)))],
    )
    assert confirmed.level is VitalLevel.PAUSE
    alert = next(a for a in confirmed.alerts if a.parameter == "systolic_high")
    assert alert.message.endswith(_tail(ACTIONS.pause))
