"""The dose order that programs the pump: smart-pump limits at the endpoint, the form and the service.

Every case checks what was written: the dose order rows of the infusion, its pump events and
the `dose.order` audit events. A refused order leaves all three as they were. The same cases
run through the JSON endpoint and straight through the service (`seating.order_dose`), so a
handler that wrote and then refused, or a service that only the web layer guarded, would fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict, Forbidden, InvalidInput
from ketaflow.services import infusion, seating
from ketaflow.store import models as m
from ketaflow.vocabulary import AdministrationKind, AppointmentKind, AppointmentStatus, TreatmentPhase
from tests.integration.races import race
from tests.integration.web.demo_support import staff
from tests.integration.web.frontdesk_support import Desk, clinic, make_patient, open_desk

NOW = datetime(2031, 6, 2, 15, 0, tzinfo=UTC)  # a day no other test uses


@pytest.fixture(scope="module")
def desk(demo_engine: Engine) -> Iterator[Desk]:
    yield from open_desk(demo_engine, NOW, roles=("psychiatrist", "nurse"))


def seated(engine: Engine, *, weight_kg: float | None = 70.0) -> uuid.UUID:
    """A patient of our own (weighing `weight_kg`, or with no weight charted) in the chair, no order yet."""
    pid = make_patient(engine)
    with Session(engine) as db:
        c = clinic(db)
        if weight_kg is not None:
            db.add(
                m.BodyMeasurement(
                    clinic_id=c.id,
                    patient_id=pid,
                    measured_at=NOW - timedelta(minutes=30),
                    weight_kg=weight_kg,
                )
            )
        appt = m.Appointment(
            clinic_id=c.id,
            patient_id=pid,
            kind=AppointmentKind.INFUSION,
            starts_at=NOW - timedelta(minutes=20),
            ends_at=NOW + timedelta(hours=3),
            status=AppointmentStatus.IN_CHAIR,
            escort_name="Dana Reyes",
            escort_phone="555-0100",
        )
        db.add(appt)
        db.flush()
        session = m.InfusionSession(
            clinic_id=c.id,
            patient_id=pid,
            appointment_id=appt.id,
            series_number=1,
            phase=TreatmentPhase.INDUCTION,
            opened_at=NOW - timedelta(minutes=10),
        )
        db.add(session)
        db.commit()
        made: uuid.UUID = session.id
        return made


def session_row(sid: uuid.UUID) -> Any:
    """The lock on the infusion's row, which changes to one infusion take (PostgreSQL)."""
    return select(m.InfusionSession.id).where(m.InfusionSession.id == sid).with_for_update()


def start_pump(engine: Engine, sid: uuid.UUID) -> None:
    """Chart the pump's start for the session's order (as the nurse's start button does)."""
    with Session(engine) as db:
        order = db.scalars(select(m.DoseOrder).where(m.DoseOrder.session_id == sid)).one()
        db.add(
            m.AdministrationEvent(
                clinic_id=order.clinic_id,
                session_id=sid,
                kind=AdministrationKind.START,
                occurred_at=NOW - timedelta(minutes=5),
                rate_ml_per_h=order.rate_ml_per_h,
                rate_mg_per_min=order.dose_mg / order.duration_min,
                cumulative_mg=0.0,
            )
        )
        db.commit()


@dataclass(frozen=True)
class Written:
    """What the database holds for one infusion: its orders, pump events and order audits."""

    orders: int
    pump_events: int
    audits: int


def written(engine: Engine, sid: uuid.UUID) -> Written:
    with Session(engine) as db:

        def n(model: Any, *where: Any) -> int:
            return db.scalar(select(func.count()).select_from(model).where(*where)) or 0

        return Written(
            orders=n(m.DoseOrder, m.DoseOrder.session_id == sid),
            pump_events=n(m.AdministrationEvent, m.AdministrationEvent.session_id == sid),
            audits=n(m.AuditEvent, m.AuditEvent.entity_id == sid, m.AuditEvent.action == "dose.order"),
        )


def the_order(engine: Engine, sid: uuid.UUID) -> m.DoseOrder:
    with Session(engine) as db:
        row = db.scalars(select(m.DoseOrder).where(m.DoseOrder.session_id == sid)).one()
        db.expunge(row)
        return row


def order_audit(engine: Engine, sid: uuid.UUID) -> dict[str, Any]:
    with Session(engine) as db:
        details = db.scalars(
            select(m.AuditEvent.details).where(
                m.AuditEvent.entity_id == sid, m.AuditEvent.action == "dose.order"
            )
        ).one()
        return dict(details)


def place(desk: Desk, via: str, sid: uuid.UUID, body: dict[str, Any]) -> tuple[int, str]:
    """Order the dose as psychiatrist1.aus through the API or the service: (status, error or "")."""
    if via == "api":
        client, headers = desk.as_("psychiatrist")
        r = client.post(f"/api/sessions/{sid}/order", json=body, headers=headers)
        assert "Traceback" not in r.text
        return r.status_code, "" if r.status_code == 200 else r.json()["error"]
    who = staff(desk.engine, "psychiatrist1.aus")
    args = {"protocol": "depression-induction", "dose_mg_per_kg": None, "minutes": None}
    args |= {"bag_mg": 100.0, "bag_ml": 100.0, "reason": ""} | body
    with Session(desk.engine) as db:
        try:
            seating.order_dose(db, who, sid, now=NOW, **args)
        except (InvalidInput, Conflict) as exc:
            return 409 if isinstance(exc, Conflict) else 400, exc.message
    return 200, ""


VIA = ["api", "service"]


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize(
    ("body", "words"),
    [
        # 0.8 mg/kg is above the induction protocol's hard maximum of 0.75 mg/kg.
        ({"dose_mg_per_kg": 0.8}, "hard maximum 0.75 mg/kg"),
        ({"dose_mg_per_kg": 0.8, "reason": "partial response at 0.75, tolerated well"}, "hard maximum"),
        # 1.6 mg/kg is above the absolute ceiling (1.5 mg/kg) that no reason or setting can lift.
        ({"dose_mg_per_kg": 1.6, "reason": "the psychiatrist insists"}, "absolute ceiling"),
        # 30 minutes is below the protocol's hard minimum duration of 40 minutes.
        ({"minutes": 30, "reason": "short on chairs"}, "hard minimum 40 min"),
    ],
)
def test_a_hard_limit_is_refused_even_with_a_written_reason_and_nothing_is_saved(
    desk: Desk, via: str, body: dict[str, Any], words: str
) -> None:
    sid = seated(desk.engine)
    status, error = place(desk, via, sid, body)
    assert status == 400 and "Refused by the hard limit" in error and words in error, error
    assert written(desk.engine, sid) == Written(0, 0, 0)


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize("reason", ["", "   \n\t "])
def test_a_soft_limit_without_a_written_reason_is_refused_and_nothing_is_saved(
    desk: Desk, via: str, reason: str
) -> None:
    sid = seated(desk.engine)
    # 0.6 mg/kg: above the soft maximum 0.5 mg/kg, below the hard maximum 0.75 mg/kg.
    status, error = place(desk, via, sid, {"dose_mg_per_kg": 0.6, "reason": reason})
    assert status == 400, error
    assert "beyond a soft limit" in error and "soft maximum 0.5 mg/kg" in error and "reason" in error
    assert written(desk.engine, sid) == Written(0, 0, 0)


@pytest.mark.parametrize("via", VIA)
def test_a_soft_limit_with_a_written_reason_is_stored_with_the_reason_and_its_status(
    desk: Desk, via: str
) -> None:
    sid = seated(desk.engine, weight_kg=70.0)
    reason = "  Partial response at 0.5 mg/kg, tolerated well  "
    status, error = place(desk, via, sid, {"dose_mg_per_kg": 0.6, "reason": reason})
    assert status == 200, error
    assert written(desk.engine, sid) == Written(1, 0, 1)
    row = the_order(desk.engine, sid)
    assert row.limit_status == "soft_limit" and row.dose_mg_per_kg == 0.6
    # 0.6 mg/kg x 70 kg = 42 mg from a 1 mg/mL bag: 42 mL at 63 mL/h over 40 minutes.
    assert row.dose_mg == pytest.approx(42.0) and row.volume_ml == pytest.approx(42.0)
    assert row.rate_ml_per_h == pytest.approx(63.0) and row.dosing_weight_kg == 70.0
    # The stored reason names what it goes beyond: the dose (0.6 > 0.5 mg/kg) and the rate
    # (0.9 > 0.75 mg/kg/h); the psychiatrist's words are kept, trimmed.
    assert row.override_reason == (
        "Outside the protocol's soft limits (dose, rate): Partial response at 0.5 mg/kg, tolerated well"
    )
    assert row.ordered_at == NOW and row.recorded_by_id == row.ordered_by_id
    audit = order_audit(desk.engine, sid)
    assert audit["status"] == "soft_limit" and audit["reason"] == reason.strip()


@pytest.mark.parametrize("via", VIA)
def test_an_order_within_limits_keeps_no_override_reason(desk: Desk, via: str) -> None:
    sid = seated(desk.engine)
    status, error = place(desk, via, sid, {"reason": "usual dose"})
    assert status == 200, error
    row = the_order(desk.engine, sid)
    assert row.limit_status == "ok" and row.override_reason is None  # nothing was overridden
    assert row.dose_mg == pytest.approx(35.0)  # 0.5 mg/kg x 70 kg
    assert written(desk.engine, sid) == Written(1, 0, 1)


@pytest.mark.parametrize("via", VIA)
def test_an_order_after_the_pump_started_is_a_conflict_and_nothing_is_saved(desk: Desk, via: str) -> None:
    sid = seated(desk.engine)
    assert place(desk, "api", sid, {})[0] == 200
    start_pump(desk.engine, sid)
    before = written(desk.engine, sid)
    assert before == Written(1, 1, 1)
    status, error = place(desk, via, sid, {"dose_mg_per_kg": 0.6, "reason": "partial response"})
    assert status == 409 and "already started" in error, error
    assert written(desk.engine, sid) == before
    assert the_order(desk.engine, sid).dose_mg_per_kg == 0.5  # the running order is unchanged


@pytest.mark.parametrize("via", VIA)
def test_an_order_with_no_weight_on_the_chart_is_refused_and_nothing_is_saved(desk: Desk, via: str) -> None:
    sid = seated(desk.engine, weight_kg=None)
    status, error = place(desk, via, sid, {})
    assert status == 400 and "no weight on the chart" in error, error
    assert written(desk.engine, sid) == Written(0, 0, 0)


def test_only_the_psychiatrist_orders_and_a_refusal_writes_nothing(desk: Desk) -> None:
    sid = seated(desk.engine)
    client, headers = desk.as_("nurse")
    r = client.post(f"/api/sessions/{sid}/order", json={}, headers=headers)
    assert r.status_code == 403 and r.json()["error"]
    with Session(desk.engine) as db:
        with pytest.raises(Forbidden):
            seating.order_dose(
                db,
                staff(desk.engine, "nurse1.aus"),
                sid,
                protocol="depression-induction",
                dose_mg_per_kg=None,
                minutes=None,
                bag_mg=100.0,
                bag_ml=100.0,
                reason="",
                now=NOW,
            )
    assert written(desk.engine, sid) == Written(0, 0, 0)


def test_the_order_form_shows_the_soft_limit_beside_the_form_and_saves_nothing(desk: Desk) -> None:
    sid = seated(desk.engine)
    client, headers = desk.as_("psychiatrist")
    form = {"csrf": headers["X-CSRF-Token"], "protocol": "depression-induction", "dose_mg_per_kg": "0.6"}
    page = client.post(f"/sessions/{sid}/order", data=form)
    assert page.status_code == 400 and "beyond a soft limit" in page.text
    assert 'value="0.6"' in page.text  # what was typed is kept
    assert written(desk.engine, sid) == Written(0, 0, 0)
    done = client.post(
        f"/sessions/{sid}/order", data={**form, "reason": "partial response"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert the_order(desk.engine, sid).limit_status == "soft_limit"
    assert written(desk.engine, sid) == Written(1, 0, 1)


def test_a_plan_and_an_order_judge_the_same_dose_the_same_way(desk: Desk, demo_engine: Engine) -> None:
    """Both callers use one judgement: the same soft limit, the same stored reason, the same refusals."""
    from tests.integration.web.consult_support import new_patient, ready_for_plan

    pid = new_patient(demo_engine, NOW)
    ready_for_plan(demo_engine, pid, NOW)
    client, headers = desk.as_("psychiatrist")
    plan_url = f"/api/patients/{pid}/plan"
    sid = seated(desk.engine)
    order_url = f"/api/sessions/{sid}/order"
    for url in (plan_url, order_url):
        soft = client.post(url, json={"dose_mg_per_kg": 0.6}, headers=headers)
        assert soft.status_code == 400 and "beyond a soft limit" in soft.json()["error"]
        assert soft.json()["field"] == "reason"
        hard = client.post(url, json={"dose_mg_per_kg": 0.8, "reason": "r"}, headers=headers)
        assert hard.status_code == 400 and hard.json()["error"].startswith("Refused by the hard limit")
        assert hard.json()["field"] == "dose_mg_per_kg"
    body = {"dose_mg_per_kg": 0.6, "reason": "partial response"}
    plan = client.post(plan_url, json=body, headers=headers)
    order = client.post(order_url, json=body, headers=headers)
    assert plan.status_code == order.status_code == 200, (plan.text, order.text)
    assert plan.json()["override_reason"] == the_order(desk.engine, sid).override_reason


def test_an_order_racing_the_pump_start_never_leaves_the_pump_on_an_old_order(desk: Desk) -> None:
    """A new order and the start button at once: either the order comes first and the pump runs
    it, or the start comes first and the order is refused (409). Never a pump running one order
    while the chart's current order is another."""
    sid = seated(desk.engine)
    desk.clock.now = NOW - timedelta(minutes=2)  # the first order, two minutes before the second
    try:
        assert place(desk, "api", sid, {})[0] == 200  # 0.5 mg/kg: 35 mL at 52.5 mL/h
    finally:
        desk.clock.now = NOW
    outcomes: dict[str, str] = {}

    def reorder() -> None:
        status, error = place(desk, "service", sid, {"dose_mg_per_kg": 0.6, "reason": "partial response"})
        outcomes["order"] = str(status) if status == 200 else f"{status} {error}"

    def start() -> None:
        with Session(desk.engine) as db:
            infusion.pump(db, staff(desk.engine, "nurse1.aus"), sid, AdministrationKind.START, NOW)
        outcomes["start"] = "started"

    race(desk.engine, session_row(sid), reorder, start)
    assert outcomes["start"] == "started"
    with Session(desk.engine) as db:
        current = infusion.current_order(db, sid)
        started = db.scalars(
            select(m.AdministrationEvent).where(m.AdministrationEvent.session_id == sid)
        ).one()
    assert current is not None
    assert started.rate_ml_per_h == current.rate_ml_per_h, outcomes  # the pump runs the current order
    if outcomes["order"] == "200":
        assert current.dose_mg_per_kg == 0.6 and written(desk.engine, sid) == Written(2, 1, 2)
    else:
        assert outcomes["order"].startswith("409") and "already started" in outcomes["order"]
        assert current.dose_mg_per_kg == 0.5 and written(desk.engine, sid) == Written(1, 1, 1)


def test_two_nurses_starting_the_pump_at_once_chart_one_start(desk: Desk) -> None:
    sid = seated(desk.engine)
    assert place(desk, "api", sid, {})[0] == 200
    outcomes: list[str] = []

    def start(login: str) -> Callable[[], None]:
        def run() -> None:
            with Session(desk.engine) as db:
                try:
                    infusion.pump(db, staff(desk.engine, login), sid, AdministrationKind.START, NOW)
                    outcomes.append("started")
                except (Conflict, InvalidInput) as exc:
                    outcomes.append(exc.message)

        return run

    race(desk.engine, session_row(sid), start("nurse1.aus"), start("psychiatrist1.aus"))
    assert outcomes.count("started") == 1 and len(outcomes) == 2, outcomes
    assert written(desk.engine, sid) == Written(1, 1, 1)
