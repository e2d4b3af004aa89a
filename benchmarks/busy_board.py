"""Set-up for the page-latency benchmark: every chair of every clinic in use at once.

The demo network's own "today" holds bookings but no infusion under way (the generator
charts only days before its as-of day), so a chair board measured on it as built shows
booked slots, or late in the day nothing at all. The busiest moment is every chair running:
that is what `fill_chairs` charts, into a copy of the database the benchmark works on.

Per chair: a checked-in patient with a driver, an infusion opened 40 minutes ago with its
dose order and pump start, a baseline and then a reading every 5 minutes (9 sets, with a
blood-pressure rise on every fourth chair so some cards carry alerts), and an open request
for help on every third chair. Rows are written with the ORM, as the app writes them.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import (
    AdministrationKind,
    AppointmentKind,
    AppointmentStatus,
    AssistanceReason,
    Role,
    TreatmentPhase,
    VitalPhase,
)

STARTED_MIN_AGO = 40
READING_EVERY_MIN = 5


def _staff(db: Session, clinic_id: uuid.UUID, role: Role) -> uuid.UUID:
    found = db.scalar(
        select(m.StaffRole.user_id)
        .where(m.StaffRole.clinic_id == clinic_id, m.StaffRole.role == role)
        .limit(1)
    )
    if found is None:
        raise SystemExit(f"the demo clinic {clinic_id} has no {role.value}; rebuild the demo network")
    return found


def fill_chairs(engine: Engine, now: datetime, seed: int = 20261204) -> int:
    """Chart a running infusion in every chair of every clinic; returns how many."""
    rng = random.Random(seed)
    filled = 0
    with Session(engine) as db, db.begin():
        for clinic in db.scalars(select(m.Clinic).order_by(m.Clinic.code)):
            chairs = db.scalars(
                select(m.Chair).where(m.Chair.clinic_id == clinic.id).order_by(m.Chair.position)
            )
            nurse = _staff(db, clinic.id, Role.NURSE)
            psychiatrist = _staff(db, clinic.id, Role.PSYCHIATRIST)
            patient_ids = list(db.scalars(select(m.Patient.id).where(m.Patient.clinic_id == clinic.id)))
            for n, chair in enumerate(chairs.all()):
                filled += _fill_chair(
                    db, rng, clinic.id, chair.id, rng.choice(patient_ids), nurse, psychiatrist, n, now
                )
    return filled


def _fill_chair(
    db: Session,
    rng: random.Random,
    clinic_id: uuid.UUID,
    chair_id: uuid.UUID,
    patient_id: uuid.UUID,
    nurse: uuid.UUID,
    psychiatrist: uuid.UUID,
    n: int,
    now: datetime,
) -> int:
    started = now - timedelta(minutes=STARTED_MIN_AGO)
    appointment = m.Appointment(
        clinic_id=clinic_id,
        patient_id=patient_id,
        chair_id=chair_id,
        kind=AppointmentKind.INFUSION,
        starts_at=started,
        ends_at=started + timedelta(hours=3),
        status=AppointmentStatus.IN_CHAIR,
        escort_name="Benchmark Driver",
        escort_phone="555-0199",
        checked_in_at=started - timedelta(minutes=10),
    )
    db.add(appointment)
    db.flush()
    previous = db.scalar(
        select(func.count()).select_from(m.InfusionSession).where(m.InfusionSession.patient_id == patient_id)
    )
    session = m.InfusionSession(
        clinic_id=clinic_id,
        patient_id=patient_id,
        appointment_id=appointment.id,
        chair_id=chair_id,
        nurse_id=nurse,
        series_number=(previous or 0) + 1,
        phase=TreatmentPhase.INDUCTION,
        opened_at=started - timedelta(minutes=5),
    )
    db.add(session)
    db.flush()
    fact = {"clinic_id": clinic_id, "session_id": session.id, "recorded_by_id": nurse}
    # 0.5 mg/kg over 40 min for 70 kg from a 50 mg / 100 mL bag (the demo's usual order).
    db.add(
        m.DoseOrder(
            **{**fact, "recorded_by_id": psychiatrist},
            ordered_by_id=psychiatrist,
            ordered_at=started - timedelta(minutes=4),
            protocol_code="depression-induction",
            dosing_weight_kg=70.0,
            dose_mg_per_kg=0.5,
            dose_mg=35.0,
            duration_min=40.0,
            bag_drug_mg=50.0,
            bag_volume_ml=100.0,
            rate_ml_per_h=105.0,
            volume_ml=70.0,
        )
    )
    db.add(
        m.AdministrationEvent(
            **fact,
            kind=AdministrationKind.START,
            occurred_at=started,
            rate_ml_per_h=105.0,
            rate_mg_per_min=35.0 / 40.0,
            cumulative_mg=0.0,
        )
    )
    rise = 45 if n % 4 == 3 else 12  # every fourth chair: a rise that raises an alert
    readings = STARTED_MIN_AGO // READING_EVERY_MIN + 1
    for k in range(readings):
        climb = rise * k / (readings - 1)
        db.add(
            m.VitalSign(
                **fact,
                patient_id=patient_id,
                measured_at=started + timedelta(minutes=READING_EVERY_MIN * k),
                phase=VitalPhase.BASELINE if k == 0 else VitalPhase.INFUSION,
                systolic_mmhg=round(122 + climb + rng.randint(-3, 3)),
                diastolic_mmhg=round(78 + climb / 2 + rng.randint(-2, 2)),
                heart_rate_bpm=72 + rng.randint(-4, 8),
                spo2_percent=rng.randint(96, 99),
                respiratory_rate_per_min=rng.randint(12, 16),
            )
        )
    if n % 3 == 0:
        db.add(
            m.AssistanceRequest(**fact, reason=AssistanceReason.RESTROOM, asked_at=now - timedelta(minutes=3))
        )
    return 1
