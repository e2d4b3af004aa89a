"""Shared pieces of the consultation tests: a fresh Austin patient with a history and questions."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.clinical.levels import ScreeningLevel
from ketaflow.services.consent import consent_texts
from ketaflow.store import models as m
from ketaflow.vocabulary import ConsentKind, ConsentStatus, Sex

_n = itertools.count(1)


def new_patient(engine: Engine, now: datetime, *, questions: tuple[str, ...] = ()) -> uuid.UUID:
    """A patient of the Austin clinic with weight, a diagnosis, a benzodiazepine and questions."""
    with Session(engine) as db:
        clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert clinic is not None
        patient = m.Patient(
            organization_id=clinic.organization_id,
            clinic_id=clinic.id,
            mrn=f"CONS-{uuid.uuid4().hex[:10]}",
            given_name="Morgan",
            family_name=f"Consult{next(_n)}",
            date_of_birth=date(1979, 4, 2),
            sex=Sex.FEMALE,
        )
        db.add(patient)
        db.flush()
        ids = {"clinic_id": clinic.id, "patient_id": patient.id}
        db.add_all(
            [
                m.BodyMeasurement(**ids, measured_at=now - timedelta(days=1), weight_kg=70.0, height_cm=168),
                m.Diagnosis(
                    **ids, code="F33.2", description="Treatment-resistant depression", is_indication=True
                ),
                m.Diagnosis(**ids, description="Hypertension"),
                m.Medication(**ids, as_written="Xanax 0.5 mg at night"),
                m.Allergy(**ids, substance="penicillin"),
            ]
        )
        for i, text in enumerate(questions):
            db.add(m.PatientQuestion(**ids, asked_at=now - timedelta(days=2, minutes=-i), text=text))
        db.commit()
        return patient.id


def psychiatrist_id(engine: Engine) -> uuid.UUID:
    with Session(engine) as db:
        user = db.scalar(
            select(m.StaffUser).where(m.StaffUser.email == "psychiatrist1.aus@demo.ketaflow.org")
        )
        assert user is not None
        return user.id


def ready_for_plan(engine: Engine, patient_id: uuid.UUID, now: datetime, *, eligible: bool = True) -> None:
    """Chart an (eligible) consultation and a given ketamine consent directly."""
    by = psychiatrist_id(engine)
    with Session(engine) as db:
        patient = db.get(m.Patient, patient_id)
        assert patient is not None
        consult = m.Consultation(
            clinic_id=patient.clinic_id,
            patient_id=patient_id,
            psychiatrist_id=by,
            held_at=now - timedelta(days=1),
            indication="Treatment-resistant depression",
            screening_level=ScreeningLevel.CAUTION if eligible else ScreeningLevel.CONTRAINDICATED,
            eligible=eligible,
        )
        db.add(consult)
        db.flush()
        db.add(
            m.Consent(
                clinic_id=patient.clinic_id,
                patient_id=patient_id,
                consultation_id=consult.id,
                kind=ConsentKind.KETAMINE_TREATMENT,
                status=ConsentStatus.GIVEN,
                text_version=consent_texts()[ConsentKind.KETAMINE_TREATMENT].version,
                signed_at=now - timedelta(days=1),
                obtained_by_id=by,
            )
        )
        db.commit()


def count(engine: Engine, model: type, patient_id: uuid.UUID) -> int:
    with engine.connect() as conn:
        return (
            conn.scalar(select(func.count()).select_from(model).where(model.patient_id == patient_id)) or 0  # type: ignore[attr-defined]
        )
