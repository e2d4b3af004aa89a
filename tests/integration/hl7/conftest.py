"""A migrated database of its own for the HL7 tests (per module and engine), into which each test
commits a clinic of its own: the MLLP listener runs its own sessions, so nothing can be rolled back
behind it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.services.auth import CurrentUser
from ketaflow.store import models as m
from ketaflow.vocabulary import AdministrationKind, AppointmentKind, AppointmentStatus, Role, TreatmentPhase
from tests.conftest import ENGINE_KINDS, FreshDatabases, Templates
from tests.factories import make_clinic, make_patient, make_staff

# 10:00 in the test clinics' zone (America/Chicago, CST = UTC-6)
T0 = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
START = T0 + timedelta(minutes=10)  # the pump starts


@pytest.fixture(scope="module", params=ENGINE_KINDS)
def hl7_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, templates: Templates
) -> Iterator[Engine]:
    databases = FreshDatabases(request.param, tmp_path_factory.mktemp("hl7"))
    owner = databases.new_migrated(templates)
    yield databases.app_engine(owner)
    databases.drop_all()


@dataclass
class Chairside:
    """A clinic with a chair, a patient seated at T0, the pump started at START, and a monitor
    in the chair known by `device` (and by location `location`)."""

    engine: Engine
    clinic_id: uuid.UUID
    clinic_code: str
    chair_id: uuid.UUID
    chair_label: str
    session_id: uuid.UUID
    patient_id: uuid.UUID
    mrn: str
    monitor_id: uuid.UUID
    device: str
    location: str
    admin_id: uuid.UUID
    nurse_id: uuid.UUID

    def who(self, db: Session, user_id: uuid.UUID | None = None) -> CurrentUser:
        user = db.get(m.StaffUser, user_id or self.admin_id)
        assert user is not None
        roles: dict[str, set[Role]] = {}
        for r in db.scalars(select(m.StaffRole).where(m.StaffRole.user_id == user.id)):
            roles.setdefault(str(r.clinic_id), set()).add(r.role)
        return CurrentUser(user, None, roles)  # type: ignore[arg-type]

    def vitals(self) -> list[m.VitalSign]:
        with Session(self.engine) as db:
            return list(
                db.scalars(
                    select(m.VitalSign)
                    .where(m.VitalSign.session_id == self.session_id)
                    .order_by(m.VitalSign.measured_at)
                )
            )


def seat_patient(engine: Engine, *, with_monitor: bool = True, at: datetime = T0) -> Chairside:
    """A patient seated at `at`, the pump started 10 minutes later."""
    with Session(engine, expire_on_commit=False) as db:
        clinic = make_clinic(db)
        chair = m.Chair(clinic_id=clinic.id, label="Chair 3")
        db.add(chair)
        nurse = make_staff(db, clinic, Role.NURSE)
        admin = make_staff(db, clinic, Role.ADMIN)
        patient = make_patient(db, clinic)
        appt = m.Appointment(
            clinic_id=clinic.id,
            patient_id=patient.id,
            chair_id=chair.id,
            kind=AppointmentKind.INFUSION,
            starts_at=at,
            ends_at=at + timedelta(hours=2),
            status=AppointmentStatus.IN_CHAIR,
        )
        db.add(appt)
        db.flush()
        session = m.InfusionSession(
            clinic_id=clinic.id,
            patient_id=patient.id,
            appointment_id=appt.id,
            chair_id=chair.id,
            nurse_id=nurse.id,
            series_number=1,
            phase=TreatmentPhase.INDUCTION,
            opened_at=at,
        )
        db.add(session)
        db.flush()
        db.add(
            m.AdministrationEvent(
                clinic_id=clinic.id,
                session_id=session.id,
                kind=AdministrationKind.START,
                occurred_at=at + (START - T0),
                rate_ml_per_h=50,
                rate_mg_per_min=0.875,
                cumulative_mg=0,
                recorded_by_id=nurse.id,
            )
        )
        device = f"EUI{uuid.uuid4().hex[:13].upper()}"
        location = f"INF^^3^{clinic.code.upper()}"
        monitor = m.Monitor(
            clinic_id=clinic.id,
            chair_id=chair.id,
            device_id=device if with_monitor else None,
            location=location if with_monitor else None,
            label="Chair 3 monitor",
            active=with_monitor,
        )
        db.add(monitor)
        db.commit()
        return Chairside(
            engine,
            clinic.id,
            clinic.code,
            chair.id,
            chair.label,
            session.id,
            patient.id,
            patient.mrn,
            monitor.id,
            device,
            location,
            admin.id,
            nurse.id,
        )


@pytest.fixture
def chairside(hl7_engine: Engine) -> Chairside:
    return seat_patient(hl7_engine)
