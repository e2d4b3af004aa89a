"""Every role against the core endpoints: sign-in info, clinics, board, chart, check-in, seat, infusion."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import AdministrationKind, AppointmentKind, AppointmentStatus, TreatmentPhase
from tests.integration.web.demo_support import demo_plan
from tests.integration.web.roles import AUS_STAFF, CLINICAL_READERS, ROLES, Caller, callers, expected

COVERS = {
    ("GET", "/api/me"),
    ("GET", "/api/clinics"),
    ("GET", "/api/clinics/{code}/board"),
    ("GET", "/api/patients/{patient_id}"),
    ("POST", "/api/appointments/{appointment_id}/check-in"),
    ("POST", "/api/appointments/{appointment_id}/open"),
    ("GET", "/api/sessions/{session_id}"),
    ("POST", "/api/sessions/{session_id}/order"),
    ("POST", "/api/sessions/{session_id}/pump"),
    ("POST", "/api/sessions/{session_id}/vitals"),
    ("GET", "/api/sessions/{session_id}/levels"),
}
NOW = datetime(2031, 5, 5, 15, 0, tzinfo=UTC)  # a day no other test books
LABELS = list(ROLES)


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


class World:
    """Makes fresh rows at the Austin clinic for one case: each case changes its own records."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with Session(engine) as db:
            clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
            assert clinic is not None
            plan = demo_plan(db, "aus")
            self.clinic_id, self.plan_id, self.patient_id = clinic.id, plan.id, plan.patient_id

    def appointment(self, status: AppointmentStatus) -> m.Appointment:
        with Session(self.engine) as db:
            appt = m.Appointment(
                clinic_id=self.clinic_id,
                patient_id=self.patient_id,
                treatment_plan_id=self.plan_id,
                kind=AppointmentKind.INFUSION,
                starts_at=NOW,
                ends_at=NOW + timedelta(hours=3),
                status=status,
                escort_name="Dana Reyes" if status != AppointmentStatus.BOOKED else None,
                escort_phone="555-0100" if status != AppointmentStatus.BOOKED else None,
            )
            db.add(appt)
            db.commit()
            db.refresh(appt)
            db.expunge(appt)
            return appt

    def session(self) -> uuid.UUID:
        appt = self.appointment(AppointmentStatus.IN_CHAIR)
        with Session(self.engine) as db:
            row = m.InfusionSession(
                clinic_id=self.clinic_id,
                patient_id=self.patient_id,
                appointment_id=appt.id,
                treatment_plan_id=self.plan_id,
                series_number=99,
                phase=TreatmentPhase.MAINTENANCE,
                opened_at=NOW - timedelta(minutes=5),
            )
            db.add(row)
            db.commit()
            return row.id

    def ordered_session(self, psychiatrist: Caller) -> uuid.UUID:
        sid = self.session()
        r = psychiatrist.client.post(
            f"/api/sessions/{sid}/order",
            json={"protocol": "depression-induction"},
            headers=psychiatrist.headers,
        )
        assert r.status_code == 200, r.text
        return sid

    def started_session(self, psychiatrist: Caller) -> uuid.UUID:
        """An ordered infusion whose pump started ten minutes before NOW (charted directly)."""
        sid = self.ordered_session(psychiatrist)
        with Session(self.engine) as db:
            order = db.scalars(select(m.DoseOrder).where(m.DoseOrder.session_id == sid)).one()
            db.add(
                m.AdministrationEvent(
                    clinic_id=self.clinic_id,
                    session_id=sid,
                    kind=AdministrationKind.START,
                    occurred_at=NOW - timedelta(minutes=10),
                    rate_ml_per_h=order.rate_ml_per_h,
                    rate_mg_per_min=order.dose_mg / order.duration_min,
                    cumulative_mg=0.0,
                )
            )
            db.commit()
        return sid


@pytest.fixture(scope="module")
def world(demo_engine: Engine) -> World:
    return World(demo_engine)


def _status(caller: Caller, method: str, url: str, body: dict | None = None) -> int:  # type: ignore[type-arg]
    r = caller.client.request(method, url, json=body, headers=caller.headers)
    assert "Traceback" not in r.text
    if r.status_code >= 400:
        assert r.json()["error"], "every refusal says why"
    return r.status_code


@pytest.mark.parametrize("label", LABELS)
def test_reading_who_am_i_and_my_clinics(who: dict[str, Caller], label: str) -> None:
    signed_in = tuple(k for k in ROLES if k != "anonymous")
    assert _status(who[label], "GET", "/api/me") == expected(label, signed_in)
    assert _status(who[label], "GET", "/api/clinics") == expected(label, signed_in)


@pytest.mark.parametrize("label", LABELS)
def test_the_board_is_for_the_clinics_own_staff(who: dict[str, Caller], label: str) -> None:
    assert _status(who[label], "GET", "/api/clinics/aus/board") == expected(label, AUS_STAFF)


@pytest.mark.parametrize("label", LABELS)
def test_charts_and_sessions_are_read_by_the_clinics_staff(
    who: dict[str, Caller], world: World, label: str
) -> None:
    sid = world.started_session(who["psychiatrist"])
    assert _status(who[label], "GET", f"/api/patients/{world.patient_id}") == expected(label, AUS_STAFF)
    for url in (f"/api/sessions/{sid}", f"/api/sessions/{sid}/levels"):
        assert _status(who[label], "GET", url) == expected(label, CLINICAL_READERS), url


@pytest.mark.parametrize("label", LABELS)
def test_the_front_desk_gets_the_charts_administrative_part_only(
    who: dict[str, Caller], world: World, label: str
) -> None:
    world.started_session(who["psychiatrist"])
    r = who[label].client.get(f"/api/patients/{world.patient_id}")
    if r.status_code != 200:
        return
    chart = r.json()
    assert {"mrn", "name", "date_of_birth", "weight_kg", "medications", "allergies"} <= chart.keys()
    clinical = {"diagnoses", "infusions", "scores", "home_alerts", "discharge_alerts"}
    assert chart["clinical"] is (label in CLINICAL_READERS)
    if label in CLINICAL_READERS:
        assert clinical <= chart.keys() and chart["infusions"]
    else:
        assert not clinical & chart.keys()  # left out, not shown as empty


@pytest.mark.parametrize("label", LABELS)
def test_checking_in(who: dict[str, Caller], world: World, label: str) -> None:
    appt = world.appointment(AppointmentStatus.BOOKED)
    body = {"version": appt.version, "driver": "Dana Reyes, 555-0100"}
    url = f"/api/appointments/{appt.id}/check-in"
    assert _status(who[label], "POST", url, body) == expected(label, {"admin", "front_desk", "nurse"})


@pytest.mark.parametrize("label", LABELS)
def test_seating_a_patient(who: dict[str, Caller], world: World, label: str) -> None:
    appt = world.appointment(AppointmentStatus.CHECKED_IN)
    url = f"/api/appointments/{appt.id}/open"
    assert _status(who[label], "POST", url) == expected(label, {"nurse", "psychiatrist"})


def written(engine: Engine, sid: uuid.UUID) -> dict[str, int]:
    """What one session holds: dose orders, pump events, vital signs, and the audits of each change."""
    with Session(engine) as db:

        def n(model: Any, *where: Any) -> int:
            return db.scalar(select(func.count()).select_from(model).where(*where)) or 0

        audits = db.execute(
            select(m.AuditEvent.action, func.count())
            .where(m.AuditEvent.entity_id == sid)
            .group_by(m.AuditEvent.action)
        ).all()
        return {
            "orders": n(m.DoseOrder, m.DoseOrder.session_id == sid),
            "pump": n(m.AdministrationEvent, m.AdministrationEvent.session_id == sid),
            "vitals": n(m.VitalSign, m.VitalSign.session_id == sid),
        } | {action: int(count) for action, count in audits if action in CHANGE_AUDITS}


CHANGE_AUDITS = {"dose.order", "session.start", "vitals.create"}


@pytest.mark.parametrize("label", LABELS)
def test_ordering_the_dose(who: dict[str, Caller], world: World, demo_engine: Engine, label: str) -> None:
    sid = world.session()
    body = {"protocol": "depression-induction"}
    status = _status(who[label], "POST", f"/api/sessions/{sid}/order", body)
    assert status == expected(label, {"psychiatrist"})
    # A refusal writes nothing; the psychiatrist's order is one row and one audit event.
    done = {"orders": 1, "dose.order": 1} if status == 200 else {}
    assert written(demo_engine, sid) == {"orders": 0, "pump": 0, "vitals": 0} | done


@pytest.mark.parametrize("label", LABELS)
def test_charting_the_pump_and_vitals(
    who: dict[str, Caller], world: World, demo_engine: Engine, label: str
) -> None:
    sid = world.ordered_session(who["psychiatrist"])
    charting = {"nurse", "psychiatrist"}
    before = written(demo_engine, sid)
    assert before == {"orders": 1, "pump": 0, "vitals": 0, "dose.order": 1}
    vitals = {"bp": "128/82", "heart_rate": 72, "spo2": 98, "respiratory_rate": 14}
    vitals_status = _status(who[label], "POST", f"/api/sessions/{sid}/vitals", vitals)
    assert vitals_status == expected(label, charting)
    pump_status = _status(who[label], "POST", f"/api/sessions/{sid}/pump", {"kind": "start"})
    assert pump_status == expected(label, charting)
    allowed = label in charting
    after = written(demo_engine, sid)
    assert after == before | (
        {"vitals": 1, "vitals.create": 1, "pump": 1, "session.start": 1} if allowed else {}
    ), label


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/appointments/{appt}/check-in", {"version": 1, "driver": "Dana Reyes, 555-0100"}),
        ("POST", "/api/sessions/{sid}/pump", {"kind": "start"}),
        ("POST", "/api/sessions/{sid}/vitals", {"bp": "128/82"}),
        ("POST", "/api/sessions/{sid}/order", {}),
    ],
)
def test_a_change_without_the_csrf_header_is_refused_and_changes_nothing(
    who: dict[str, Caller],
    world: World,
    demo_engine: Engine,
    method: str,
    path: str,
    body: dict,  # type: ignore[type-arg]
) -> None:
    appt = world.appointment(AppointmentStatus.BOOKED)
    sid = world.ordered_session(who["psychiatrist"])
    owner = who["front_desk"] if "check-in" in path else who["psychiatrist"]
    done = select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.outcome == "success")
    refused = select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.outcome == "refused")
    with demo_engine.connect() as conn:
        before, refused_before = conn.scalar(done), conn.scalar(refused)
    r = owner.client.request(method, path.format(appt=appt.id, sid=sid), json=body)
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    with demo_engine.connect() as conn:  # nothing done: only the refusal is audited (issue 12)
        assert (conn.scalar(done), conn.scalar(refused)) == (before, (refused_before or 0) + 1)
