"""Issue 13, fault 1: the pre-infusion and in-infusion blood-pressure rules agree.

- A pre-infusion reading at which a running infusion would be paused DEFERS the infusion
  (a screening level between psychiatrist review and contraindicated: not startable today).
- During the infusion one high cuff value asks for a recheck; a second high reading within
  the window (or symptoms) confirms the pause.
- The pause level comes from infusion practice (severe hypertension > 180/110), not from
  JNC 7's long-term stage-2 class (>= 160/100).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ketaflow.clinical import (
    BloodPressure,
    EarlierReading,
    ScreeningLevel,
    VitalLevel,
    VitalSigns,
    assess_infusion_reading,
    default_rules,
    pre_infusion_bp,
    screen,
)

DEFER = ScreeningLevel.DEFER


def bp(s: int, d: int) -> VitalSigns:
    return VitalSigns(bp=BloodPressure(s, d))


def test_defer_lies_between_psychiatrist_review_and_contraindicated() -> None:
    assert ScreeningLevel.PSYCHIATRIST_REVIEW.rank < DEFER.rank < ScreeningLevel.CONTRAINDICATED.rank


def test_the_pause_level_is_not_jnc7_stage_two() -> None:
    t = default_rules().vitals.thresholds
    assert t["systolic_high"].pause == 180
    assert t["diastolic_high"].pause == 110
    assert "JNC" not in t["systolic_high"].source and "JNC" not in t["diastolic_high"].source


def test_a_reading_of_170_105_is_not_paused_by_one_cuff_value_and_no_longer_stopped() -> None:
    # The example: 170/105 plus the typical rise of 16/11 (Yale 2024) is 186/116.
    one = assess_infusion_reading(bp(186, 116))
    assert one.level is VitalLevel.WATCH
    assert one.recheck_in_minutes == 5
    assert "Recheck" in one.actions[0]


def test_a_second_high_reading_within_the_window_confirms_the_pause() -> None:
    again = assess_infusion_reading(bp(184, 112), earlier=[EarlierReading(5, bp(186, 116))])
    assert again.level is VitalLevel.PAUSE
    assert again.recheck_in_minutes is None


def test_a_high_reading_outside_the_window_does_not_confirm() -> None:
    late = assess_infusion_reading(bp(184, 112), earlier=[EarlierReading(30, bp(186, 116))])
    assert late.level is VitalLevel.WATCH


def test_symptoms_confirm_the_pause_at_once() -> None:
    assert assess_infusion_reading(bp(186, 116), symptoms=True).level is VitalLevel.PAUSE


def test_a_stop_reading_needs_no_confirmation() -> None:
    assert assess_infusion_reading(bp(202, 118)).level is VitalLevel.STOP
    assert assess_infusion_reading(bp(170, 121)).level is VitalLevel.STOP


def test_a_heart_rate_pause_is_not_held_back_by_the_blood_pressure_confirmation() -> None:
    reading = VitalSigns(bp=BloodPressure(130, 80), heart_rate_per_min=115)
    assert assess_infusion_reading(reading).level is VitalLevel.PAUSE


def test_a_pre_infusion_reading_at_the_pause_level_defers_the_infusion() -> None:
    finding = pre_infusion_bp(BloodPressure(182, 100))
    assert finding is not None and finding.level is DEFER
    assert "not startable today" in finding.advice.lower()
    assert screen(blood_pressure=BloodPressure(150, 111)).level is DEFER


def test_the_review_message_predicts_the_typical_rise() -> None:
    finding = pre_infusion_bp(BloodPressure(170, 105))
    assert finding is not None and finding.level is ScreeningLevel.PSYCHIATRIST_REVIEW
    assert "186/116" in finding.reason  # 170/105 + 16/11 (Yale 2024)


def test_a_hypertensive_crisis_stays_contraindicated() -> None:
    assert screen(blood_pressure=BloodPressure(185, 125)).level is ScreeningLevel.CONTRAINDICATED


@settings(max_examples=600, derandomize=True, deadline=None)
@given(systolic=st.integers(60, 260), diastolic=st.integers(30, 170))
def test_no_startable_pre_infusion_reading_would_pause_the_infusion(systolic: int, diastolic: int) -> None:
    if diastolic >= systolic:
        return
    reading = BloodPressure(systolic, diastolic)
    startable = screen(blood_pressure=reading).level.rank < DEFER.rank
    if not startable:
        return
    signs = VitalSigns(bp=reading)
    # the same reading during the infusion, confirmed twice over and with symptoms
    during = assess_infusion_reading(signs, baseline=signs, earlier=[EarlierReading(5, signs)], symptoms=True)
    assert during.level.rank < VitalLevel.PAUSE.rank, (reading, during)
