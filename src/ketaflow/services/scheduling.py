"""Appointments at the front desk: check-in with the day's driver."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

import ketaflow.clinical as clinical
from ketaflow.errors import Conflict, InvalidInput, NotFound
from ketaflow.services.audit import record
from ketaflow.services.auth import CurrentUser
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.store.versioning import apply_edit
from ketaflow.vocabulary import AppointmentStatus


def check_in(
    db: Session,
    who: CurrentUser,
    appointment_id: uuid.UUID,
    *,
    expected_version: int,
    driver: str = "",
    relationship: str = "",
    transport: str = "",
    now: datetime,
) -> m.Appointment:
    """Check a patient in: never without a named driver (with a phone) or arranged transport."""
    begin_write(db)
    appt = db.get(m.Appointment, appointment_id)
    if appt is None:
        raise NotFound("There is no such appointment.")
    require(who, Action.CHECK_IN, appt.clinic_id)
    if appt.status != AppointmentStatus.BOOKED:
        raise Conflict(
            f"This appointment is {appt.status.replace('_', ' ')}; "
            "only a booked appointment can be checked in."
        )
    transport = transport.strip()
    parsed = clinical.parse_driver(driver) if driver.strip() else None
    if parsed is None and not transport:
        raise InvalidInput(
            'Name who is driving the patient home, with a phone number (e.g. "Dana Reyes, 555-0100"), '
            "or write the transport that has been arranged."
        )
    changes: dict[str, object] = {"status": AppointmentStatus.CHECKED_IN, "checked_in_at": now}
    if parsed is not None:
        changes.update(
            escort_name=parsed.name,
            escort_phone=parsed.phone,
            escort_relationship=relationship.strip() or None,
            transport_arranged=None,
        )
    else:
        changes.update(
            escort_name=None, escort_phone=None, escort_relationship=None, transport_arranged=transport
        )
    apply_edit(db, appt, expected_version=expected_version, **changes)
    record(
        db,
        who.actor(),
        "appointment.check_in",
        "appointment",
        appt.id,
        clinic_id=appt.clinic_id,
        patient_id=appt.patient_id,
    )
    db.commit()
    return appt
