"""A booking's confirmation is written in the booking's own transaction (both engines, demo network)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict
from ketaflow.services import booking
from ketaflow.store import models as m
from tests.integration.web.frontdesk_support import chairs, make_patient
from tests.integration.web.test_booking import _who

NOW = datetime(2031, 2, 1, 15, tzinfo=UTC)


def confirmations(engine: Engine, patient_id: object) -> list[m.OutboxMessage]:
    with Session(engine) as db:
        return list(
            db.scalars(
                select(m.OutboxMessage).where(
                    m.OutboxMessage.patient_id == patient_id, m.OutboxMessage.kind == "booking_confirmation"
                )
            )
        )


def reachable_patient(engine: Engine, *, confirmed: bool) -> object:
    pid = make_patient(engine)
    with Session(engine) as db:
        patient = db.get(m.Patient, pid)
        assert patient is not None
        patient.email = f"{patient.mrn.lower()}@example.net"
        db.add(
            m.PatientMessageSettings(
                clinic_id=patient.clinic_id,
                patient_id=pid,
                email=patient.email,
                confirmed_at=NOW if confirmed else None,
                opted_out=[],
            )
        )
        db.commit()
    return pid


def test_a_booking_and_its_confirmation_commit_together(demo_engine: Engine) -> None:
    who = _who(demo_engine, "frontdesk1.aus")
    chair = chairs(demo_engine)[5]
    pid = reachable_patient(demo_engine, confirmed=True)
    with Session(demo_engine, expire_on_commit=False) as db:
        appt = booking.book(
            db, who, pid, kind="infusion", day="2031-02-10", start="09:00", chair_id=chair, now=NOW
        )  # type: ignore[arg-type]
    [row] = confirmations(demo_engine, pid)
    assert (row.appointment_id, row.state, row.next_attempt_at, row.caused_by_id) == (
        appt.id,
        "pending",
        NOW,
        who.user.id,
    )
    # A booking refused (the patient is already booked then) leaves no message behind.
    with Session(demo_engine) as db, pytest.raises(Conflict):
        booking.book(
            db,
            who,
            pid,
            kind="infusion",
            day="2031-02-10",
            start="09:00",
            chair_id=chairs(demo_engine)[6],
            now=NOW,
        )  # type: ignore[arg-type]
    assert len(confirmations(demo_engine, pid)) == 1


def test_no_confirmation_is_queued_for_an_unconfirmed_address(demo_engine: Engine) -> None:
    who = _who(demo_engine, "frontdesk1.aus")
    pid = reachable_patient(demo_engine, confirmed=False)
    with Session(demo_engine) as db:
        booking.book(
            db,
            who,
            pid,
            kind="infusion",
            day="2031-02-11",
            start="09:00",
            chair_id=chairs(demo_engine)[5],
            now=NOW,
        )  # type: ignore[arg-type]
    assert confirmations(demo_engine, pid) == []
