"""The chairside triage order: what needs a hand first (issue 19's order, oldest first within a kind)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ketaflow.services.attention import LatestVitals, Need, OpenRequest, OpenSideEffect, needs_now
from ketaflow.services.session_state import InfusionState

T0 = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)


def vitals(level: str, minute: int) -> LatestVitals:
    return LatestVitals(
        T0 + timedelta(minutes=minute), level, "BP 184/112", ("Systolic high.",), f"do {level}"
    )


def test_a_stop_level_reading_comes_before_a_waiting_patient_and_an_old_request_before_a_new_one() -> None:
    old, new = uuid.uuid4(), uuid.uuid4()
    items = needs_now(
        state=InfusionState.RUNNING,
        latest=vitals("stop", 30),
        requests=[OpenRequest(new, "restroom", T0 + timedelta(minutes=28)), OpenRequest(old, "nausea", T0)],
        side_effects=[
            OpenSideEffect(uuid.uuid4(), "nausea", "mild", T0 + timedelta(minutes=5), False),
            OpenSideEffect(uuid.uuid4(), "hypertension", "severe", T0 + timedelta(minutes=29), True),
        ],
        order_complete=False,
        checks_every_min=10,
        started_at=T0,
        now=T0 + timedelta(minutes=32),
    )
    assert [i.need for i in items] == [
        Need.VITALS_STOP,
        Need.HELP,
        Need.HELP,
        Need.ADVERSE_EVENT,
        Need.SIDE_EFFECT,
    ]
    assert [i.request_id for i in items[1:3]] == [old, new]
    assert [i.minutes for i in items[:3]] == [2, 32, 4]
    assert items[0].action == "do stop" and "BP 184/112" in items[0].text
    assert items[0].level == "stop" and items[1].level == "pause" and items[4].level == "watch"


def test_overdue_vitals_and_a_complete_order_are_raised_and_a_normal_reading_is_not() -> None:
    items = needs_now(
        state=InfusionState.RUNNING,
        latest=vitals("normal", 5),
        requests=[],
        side_effects=[],
        order_complete=True,
        checks_every_min=10,
        started_at=T0,
        now=T0 + timedelta(minutes=45),
    )
    assert [i.need for i in items] == [Need.ORDER_COMPLETE, Need.VITALS_DUE]
    assert items[1].minutes == 40 and "every 10 min" in items[1].action
    # On time: nothing to do.
    calm = needs_now(
        state=InfusionState.RUNNING,
        latest=vitals("normal", 40),
        requests=[],
        side_effects=[],
        order_complete=False,
        checks_every_min=10,
        started_at=T0,
        now=T0 + timedelta(minutes=45),
    )
    assert calm == []
    # A pump not yet started has no vitals schedule to miss.
    assert (
        needs_now(
            state=InfusionState.NOT_STARTED,
            latest=None,
            requests=[],
            side_effects=[],
            order_complete=False,
            checks_every_min=10,
            started_at=None,
            now=T0,
        )
        == []
    )
