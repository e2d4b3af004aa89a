"""Fixtures of the messaging tests: a real SMTP server, and a clinic whose rows are committed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus, Role
from tests.factories import make_clinic, make_patient, make_staff
from tests.integration.messages.smtp_server import SmtpServer

NOW = datetime(2026, 12, 9, 18, 0, tzinfo=UTC)  # 12:00 in the test clinic's zone (Chicago)
PUBLIC_URL = "https://care.example.org"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_down(tmp_path: Path) -> Iterator[SmtpServer]:
    """A server not started yet: its port refuses connections until the test starts it."""
    server = SmtpServer(tmp_path)
    yield server
    server.stop()


@dataclass
class Site:
    engine: Engine
    clinic_id: object
    patient_id: object
    appointment_id: object
    psychiatrist_id: object
    director_id: object

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)


def add_patient(
    db: Session, clinic: m.Clinic, *, email: str, confirmed: bool = True, opted_out: list[str] | None = None
) -> m.Patient:
    patient = make_patient(db, clinic)
    patient.email = email
    db.add(
        m.PatientMessageSettings(
            clinic_id=clinic.id,
            patient_id=patient.id,
            email=email,
            confirmed_at=NOW - timedelta(days=3) if confirmed else None,
            opted_out=opted_out or [],
        )
    )
    db.flush()
    return patient


def add_visit(db: Session, patient: m.Patient, starts_at: datetime) -> m.Appointment:
    appt = m.Appointment(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        kind=AppointmentKind.INFUSION,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=3),
        status=AppointmentStatus.BOOKED,
    )
    db.add(appt)
    db.flush()
    return appt


@pytest.fixture
def site(engine: Engine) -> Site:
    """A clinic (committed: the workers use their own sessions) with a reachable patient booked
    for tomorrow 09:30 local, an on-call psychiatrist and a director."""
    with Session(engine, expire_on_commit=False) as db:
        clinic = make_clinic(db)
        clinic.name = "Blue Heron Austin"
        clinic.phone = "+1 512 555 0100"
        patient = add_patient(db, clinic, email="alex@example.net")
        appt = add_visit(db, patient, datetime(2026, 12, 10, 15, 30, tzinfo=UTC))
        psychiatrist = make_staff(db, clinic, Role.PSYCHIATRIST)
        director = make_staff(db, clinic, Role.DIRECTOR)
        db.commit()
        return Site(engine, clinic.id, patient.id, appt.id, psychiatrist.id, director.id)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """The settings are read once per process (get_settings is cached); the CLI tests set them."""
    from ketaflow.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
