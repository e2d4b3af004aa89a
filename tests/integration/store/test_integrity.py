"""Uniqueness, referential integrity, UTC times and optimistic concurrency."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import exc, select, text
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict, InvalidInput
from ketaflow.store import models as m
from ketaflow.store.versioning import apply_edit
from ketaflow.vocabulary import AppointmentStatus, VitalPhase
from tests.factories import T0, make_chart, make_clinic, make_patient


def test_it_refuses_a_duplicate_mrn_in_the_organization(db: Session) -> None:
    clinic = make_clinic(db)
    make_patient(db, clinic, mrn="KF0000001")
    with pytest.raises(exc.IntegrityError), db.begin_nested():
        make_patient(db, clinic, mrn="KF0000001")


def test_it_allows_the_same_mrn_in_another_organization(db: Session) -> None:
    make_patient(db, make_clinic(db), mrn="KF0000002")
    make_patient(db, make_clinic(db), mrn="KF0000002")


def test_it_refuses_a_vital_for_a_session_that_does_not_exist(db: Session) -> None:
    chart = make_chart(db)
    with pytest.raises(exc.IntegrityError), db.begin_nested():
        db.add(
            m.VitalSign(
                clinic_id=chart.clinic.id,
                patient_id=chart.patient.id,
                session_id=uuid.uuid4(),
                measured_at=T0,
                phase=VitalPhase.INFUSION,
                systolic_mmhg=120,
            )
        )
        db.flush()


def test_it_refuses_a_discharge_without_driver_or_transport(db: Session) -> None:
    chart = make_chart(db)
    with pytest.raises(exc.IntegrityError, match="escort_or_transport"), db.begin_nested():
        db.add(
            m.Discharge(
                clinic_id=chart.clinic.id,
                session_id=chart.infusion.id,
                discharged_at=T0 + timedelta(hours=2),
                recovery_score_kind="modified_aldrete",
                recovery_score=10,
                escort_name="Dana Reyes",  # no phone: a driver must be reachable
                instructions_given=True,
            )
        )
        db.flush()


def test_it_refuses_an_unknown_enum_value(db: Session) -> None:
    chart = make_chart(db)
    with pytest.raises(exc.DBAPIError), db.begin_nested():
        db.execute(
            text("UPDATE appointments SET status = 'teleported' WHERE id = :id"),
            {
                "id": chart.appointment.id
                if db.bind.dialect.name == "postgresql"
                else chart.appointment.id.hex
            },
        )


def test_it_stores_and_returns_times_in_utc(db: Session) -> None:
    chart = make_chart(db)
    db.expire_all()
    vital = db.get(m.VitalSign, chart.vital.id)
    assert vital is not None
    assert vital.measured_at == T0
    assert vital.measured_at.utcoffset() == timedelta(0)


def test_it_refuses_a_naive_time(db: Session) -> None:
    chart = make_chart(db)
    chart.appointment.checked_in_at = datetime(2026, 3, 2, 9, 0)  # no zone
    with pytest.raises(exc.StatementError, match="without a time zone"):
        db.flush()
    db.rollback()


def test_it_applies_an_edit_at_the_expected_version(db: Session) -> None:
    chart = make_chart(db)
    appt = chart.appointment
    assert appt.version == 1
    apply_edit(db, appt, expected_version=1, status=AppointmentStatus.CANCELLED)
    assert appt.version == 2
    assert (
        db.scalar(select(m.Appointment.status).where(m.Appointment.id == appt.id))
        == AppointmentStatus.CANCELLED
    )


def test_it_refuses_a_stale_edit_with_a_clear_message(db: Session) -> None:
    chart = make_chart(db)
    apply_edit(db, chart.appointment, expected_version=1, notes="first edit")
    with pytest.raises(
        Conflict, match=r"changed by someone else since you opened it \(your version 1, now 2\)"
    ):
        apply_edit(db, chart.appointment, expected_version=1, notes="second, stale edit")


def test_it_refuses_an_edit_that_lost_a_race(db: Session) -> None:
    chart = make_chart(db)
    appt = chart.appointment
    # Another writer saves between our read and our write.
    db.execute(
        text("UPDATE appointments SET version = version + 1 WHERE id = :id"),
        {"id": appt.id if db.bind.dialect.name == "postgresql" else appt.id.hex},
    )
    with pytest.raises(Conflict, match="while you were saving"):
        apply_edit(db, appt, expected_version=1, notes="racing edit")
    db.rollback()


def test_it_refuses_to_edit_identity_fields(db: Session) -> None:
    chart = make_chart(db)
    with pytest.raises(InvalidInput, match="cannot be edited"):
        apply_edit(db, chart.appointment, expected_version=1, clinic_id=uuid.uuid4())


def test_every_clinic_owned_table_carries_clinic_id() -> None:
    unowned = {
        "organizations",
        "clinics",
        "staff_users",
        "audit_events",
        "web_sessions",
        "patient_sessions",
        "sign_in_attempts",
        "sign_in_throttles",
        "staff_recovery_codes",
        "password_reset_tokens",
        "demo_builds",
        # The hash chains' heads and checkpoints name their chain's clinic in `scope` (a clinic
        # id, or "network" for audit events without one).
        "chain_heads",
        "chain_checkpoints",
        # FHIR bulk export (issue 15): a job, a SMART client and its tokens may span several
        # clinics; they list theirs (`clinic_ids`, `clinics`) and every read checks them.
        "fhir_export_jobs",
        "fhir_clients",
        "fhir_access_tokens",
    }
    for name, table in m.Base.metadata.tables.items():
        if name in unowned:
            continue
        assert "clinic_id" in table.c, name
