"""The use cases write their HL7 messages to the outbox in their own transaction when the installation
sends HL7 (KETAFLOW_HL7_DESTINATION set), and none when it does not. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import hl7
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict
from ketaflow.services import hl7_outbox
from ketaflow.services.registration import NewPatient, register, update_details
from ketaflow.settings import get_settings
from ketaflow.store import models as m
from ketaflow.vocabulary import Role
from tests.factories import make_staff
from tests.hl7_messages import validated
from tests.integration.hl7.conftest import START, Chairside


@pytest.fixture
def sending(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KETAFLOW_HL7_DESTINATION", "127.0.0.1:2575")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("KETAFLOW_HL7_DESTINATION")
    get_settings.cache_clear()


def outbox_of(side: Chairside, patient_id: object) -> list[m.Hl7Outbox]:
    with Session(side.engine) as db:
        return list(
            db.scalars(
                select(m.Hl7Outbox)
                .where(m.Hl7Outbox.patient_id == patient_id)
                .order_by(m.Hl7Outbox.enqueued_at, m.Hl7Outbox.position)
            )
        )


def new_patient(side: Chairside, family: str) -> m.Patient:
    with Session(side.engine, expire_on_commit=False) as db:
        clinic = db.get(m.Clinic, side.clinic_id)
        assert clinic is not None
        desk = make_staff(db, clinic, Role.FRONT_DESK)
        db.commit()
        who = side.who(db, desk.id)
        return register(db, who, clinic.code, NewPatient("Ana", family, "1985-02-03", "female"), now=START)


def test_registration_queues_an_adt_a04(chairside: Chairside, sending: None) -> None:
    patient = new_patient(chairside, "O'Neil^Smith")  # a delimiter in a name is escaped
    (row,) = outbox_of(chairside, patient.id)
    assert row.kind == "ADT^A04" and row.acked_at is None
    validated(row.message)
    pid = hl7.parse(row.message).segment("PID")
    assert str(pid(3)(1)(1)) == patient.mrn
    assert "O'Neil\\S\\Smith" in str(pid(5))


def test_nothing_is_queued_when_hl7_is_not_sent(chairside: Chairside) -> None:
    patient = new_patient(chairside, "Quiet")
    assert outbox_of(chairside, patient.id) == []


def test_a_discharge_reports_the_ketamine_given_and_the_discharge(
    chairside: Chairside, sending: None
) -> None:
    with Session(chairside.engine) as db:
        session = db.get(m.InfusionSession, chairside.session_id)
        assert session is not None
        hl7_outbox.report_discharge(db, session, START + timedelta(hours=2))
        db.commit()
    rows = outbox_of(chairside, chairside.patient_id)
    # the test infusion has a pump start but no dose order: no RAS, the ADT^A03 only
    assert [r.kind for r in rows] == ["ADT^A03"]
    validated(rows[0].message)


def test_with_an_order_the_ras_comes_first_with_what_the_pump_gave(
    chairside: Chairside, sending: None
) -> None:
    from ketaflow.vocabulary import AdministrationKind

    with Session(chairside.engine) as db:
        ids = {"clinic_id": chairside.clinic_id, "session_id": chairside.session_id}
        db.add(
            m.DoseOrder(
                **ids,
                ordered_by_id=chairside.nurse_id,
                ordered_at=START,
                protocol_code="depression-induction",
                dosing_weight_kg=70,
                dose_mg_per_kg=0.5,
                dose_mg=35,
                duration_min=40,
                bag_drug_mg=50,
                bag_volume_ml=100,
                rate_ml_per_h=105,
                volume_ml=70,
            )
        )
        db.add(
            m.AdministrationEvent(
                **ids,
                kind=AdministrationKind.STOP,
                occurred_at=START + timedelta(minutes=40),
                cumulative_mg=35,
            )
        )
        db.flush()
        session = db.get(m.InfusionSession, chairside.session_id)
        assert session is not None
        hl7_outbox.report_discharge(db, session, START + timedelta(hours=2))
        db.commit()
    rows = outbox_of(chairside, chairside.patient_id)
    assert [r.kind for r in rows] == ["RAS^O17", "ADT^A03"]
    validated(rows[0].message)
    rxa = hl7.parse(rows[0].message).segment("RXA")
    assert (str(rxa(6)), str(rxa(3)) < str(rxa(4))) == ("35", True)


def test_a_change_of_registration_details_queues_an_adt_a08(chairside: Chairside, sending: None) -> None:
    patient = new_patient(chairside, "Before")
    with Session(chairside.engine, expire_on_commit=False) as db:
        desk = db.scalars(
            select(m.StaffRole.user_id).where(
                m.StaffRole.clinic_id == chairside.clinic_id, m.StaffRole.role == Role.FRONT_DESK
            )
        ).first()
        who = chairside.who(db, desk)
        details = NewPatient("Ana", "After", "1985-02-03", "female", phone="555-0100 123")
        changed = update_details(db, who, patient.id, details, version=patient.version, now=START)
        assert changed == ["family_name", "phone"]
        # the same details again: nothing changed, nothing sent
        current = db.get(m.Patient, patient.id)
        assert current is not None
        assert update_details(db, who, patient.id, details, version=current.version, now=START) == []
        # a form built before that change: refused, nothing written
        with pytest.raises(Conflict):
            update_details(
                db, who, patient.id, replace(details, phone=""), version=patient.version, now=START
            )
        audited = db.scalars(
            select(m.AuditEvent).where(
                m.AuditEvent.action == "patient.edit", m.AuditEvent.patient_id == patient.id
            )
        ).all()
    assert [a.details for a in audited] == [{"fields": ["family_name", "phone"]}]
    rows = outbox_of(chairside, patient.id)
    assert [r.kind for r in rows] == ["ADT^A04", "ADT^A08"]
    validated(rows[1].message)
    pid = hl7.parse(rows[1].message).segment("PID")
    assert str(pid(3)(1)(1)) == patient.mrn and "After" in str(pid(5))
    assert str(hl7.parse(rows[1].message).segment("MSH")(9)).startswith("ADT^A08")
