"""Charted pump events become the infusion segments actually given."""

from __future__ import annotations

import pytest

import ketaflow.pk as pk
from ketaflow.errors import InvalidInput
from ketaflow.pk import Infusion, PumpEvent
from ketaflow.pk import PumpEventKind as K


def test_it_turns_a_charted_infusion_into_segments() -> None:
    events = [
        PumpEvent(0.0, K.START, 0.875),
        PumpEvent(10.0, K.PAUSE),
        PumpEvent(14.0, K.RATE_CHANGE, 0.5),  # changed while paused
        PumpEvent(15.0, K.RESUME),
        PumpEvent(25.0, K.RATE_CHANGE, 1.0),
        PumpEvent(44.0, K.STOP),
    ]
    assert pk.segments_from_events(events) == (
        Infusion(0.0, 10.0, 0.875),
        Infusion(15.0, 25.0, 0.5),
        Infusion(25.0, 44.0, 1.0),
    )


def test_it_runs_a_live_infusion_until_now() -> None:
    events = [PumpEvent(0.0, K.START, 0.875), PumpEvent(5.0, K.RATE_CHANGE, 0.7)]
    segs = pk.segments_from_events(events, now_min=12.0)
    assert segs == (Infusion(0.0, 5.0, 0.875), Infusion(5.0, 12.0, 0.7))
    regimen = pk.regimen_from_events(events, now_min=12.0)
    assert regimen.total_dose_mg == pytest.approx(0.875 * 5 + 0.7 * 7)


def test_it_accepts_plain_strings_for_kinds() -> None:
    events = [PumpEvent(0.0, "start", 1.0), PumpEvent(3.0, "stop")]  # type: ignore[arg-type]
    assert pk.segments_from_events(events) == (Infusion(0.0, 3.0, 1.0),)


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([PumpEvent(1.0, K.START, 1.0), PumpEvent(0.5, K.STOP)], "time order"),
        ([PumpEvent(0.0, K.PAUSE)], "before the infusion started"),
        ([PumpEvent(0.0, K.START, 1.0), PumpEvent(1.0, K.RESUME)], "without a pause"),
        ([PumpEvent(0.0, K.START)], "positive rate"),
        ([PumpEvent(0.0, K.START, 1.0)], "still running"),
        ([PumpEvent(0.0, K.START, 1.0), PumpEvent(1.0, K.STOP), PumpEvent(2.0, K.RESUME)],
         "follow a stop"),
    ],
)  # fmt: skip
def test_it_rejects_impossible_charts(events: list[PumpEvent], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        pk.segments_from_events(events)


def test_it_converts_pump_rates() -> None:
    # 10 mg/mL at 5.25 mL/h is 0.875 mg/min
    assert pk.rate_mg_per_min(5.25, 10.0) == pytest.approx(0.875)


@pytest.mark.parametrize(
    ("weight", "dose", "minutes"), [(0, 0.5, 40), (-70, 0.5, 40), (70, 0, 40), (70, 0.5, 0)]
)
def test_it_rejects_non_positive_protocol_values(weight: float, dose: float, minutes: float) -> None:
    with pytest.raises(ValueError):
        pk.weight_based_infusion(weight, dose, minutes)


def test_it_rejects_bad_doses() -> None:
    with pytest.raises(InvalidInput):
        pk.Infusion(10.0, 5.0, 1.0)
    with pytest.raises(InvalidInput):
        pk.Bolus(0.0, -1.0)
    with pytest.raises(InvalidInput):
        pk.Regimen()


def test_the_live_chart_follows_what_was_given_and_forecasts_the_plan() -> None:
    events = [
        PumpEvent(0.0, K.START, 0.875),
        PumpEvent(10.0, K.PAUSE),
        PumpEvent(13.0, K.RESUME),
    ]
    live = pk.predict_live(
        "domino", 70.0, events, now_min=20.0, planned_end_min=43.0, recovery_level_ng_per_ml=50.0
    )
    assert live.running
    assert live.given_mg == pytest.approx(0.875 * 17)
    assert live.forecast_end_min == 43.0
    # Now: exactly what was given (0-10 and 13-20 min), independent of the plan.
    given = pk.Regimen(infusions=(Infusion(0.0, 10.0, 0.875), Infusion(13.0, 20.0, 0.875)))
    cp_now, ce_now = pk.concentration_now(pk.patient_modes("domino", 70.0), given, 20.0)
    assert live.cp_now_ng_per_ml == pytest.approx(cp_now, rel=1e-12)
    assert live.ce_now_ng_per_ml == pytest.approx(ce_now, rel=1e-12)
    assert live.simulation.summary.end_of_dosing_min == 43.0
    assert live.minutes_until_recovery_from_now is not None
    assert live.minutes_until_recovery_from_now > 23.0


def test_a_paused_pump_is_forecast_as_stopped() -> None:
    events = [PumpEvent(0.0, K.START, 0.875), PumpEvent(10.0, K.PAUSE)]
    live = pk.predict_live("domino", 70.0, events, now_min=12.0, planned_end_min=43.0)
    assert not live.running and live.forecast_end_min == 12.0
    assert live.simulation.summary.end_of_dosing_min == 10.0
