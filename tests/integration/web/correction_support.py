"""A patient of the demo network's Austin clinic made for the correction tests, with infusions to chart on.

The patient is new (MRN "ZC..."), has no treatment plan and sits in no chair, so what these
tests chart and correct changes no demo patient's series and no outcome figure other tests read.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import (
    AdministrationKind,
    AppointmentKind,
    AppointmentStatus,
    Instrument,
    Respondent,
    Sex,
    TreatmentPhase,
    VitalPhase,
    VitalSource,
)

WEIGHT_KG, HEIGHT_CM = 70.0, 170.0  # BMI 24.2: the dosing weight is the actual weight


def staff_id(db: Session, login: str) -> uuid.UUID:
    found = db.scalar(select(m.StaffUser.id).where(m.StaffUser.email == f"{login}@demo.ketaflow.org"))
    assert found is not None, login
    return found


class CorrectionWorld:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.series = 0
        with Session(engine) as db:
            clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
            assert clinic is not None
            patient = m.Patient(
                organization_id=clinic.organization_id,
                clinic_id=clinic.id,
                mrn=f"ZC{uuid.uuid4().hex[:8].upper()}",
                given_name="Casey",
                family_name="Morgan",
                date_of_birth=date(1985, 4, 2),
                sex=Sex.FEMALE,
            )
            db.add(patient)
            db.flush()
            db.add(
                m.BodyMeasurement(
                    clinic_id=clinic.id,
                    patient_id=patient.id,
                    measured_at=datetime(2030, 1, 1, 12, 0, tzinfo=UTC),
                    weight_kg=WEIGHT_KG,
                    height_cm=HEIGHT_CM,
                )
            )
            self.nurse_id = staff_id(db, "nurse1.aus")
            self.psychiatrist_id = staff_id(db, "psychiatrist1.aus")
            db.commit()
            self.clinic_id, self.patient_id = clinic.id, patient.id

    def session(self, at: datetime, *, ordered: bool = False, started: bool = False) -> uuid.UUID:
        """An infusion opened at `at` (no chair), optionally with a 0.5 mg/kg order and a started pump."""
        self.series += 1
        with Session(self.engine) as db:
            appt = m.Appointment(
                clinic_id=self.clinic_id,
                patient_id=self.patient_id,
                kind=AppointmentKind.INFUSION,
                starts_at=at,
                ends_at=at + timedelta(hours=3),
                status=AppointmentStatus.IN_CHAIR,
                escort_name="Dana Reyes",
                escort_phone="555-0100",
            )
            db.add(appt)
            db.flush()
            session = m.InfusionSession(
                clinic_id=self.clinic_id,
                patient_id=self.patient_id,
                appointment_id=appt.id,
                series_number=self.series,
                phase=TreatmentPhase.INDUCTION,
                opened_at=at,
            )
            db.add(session)
            db.flush()
            if ordered:
                db.add(
                    m.DoseOrder(
                        clinic_id=self.clinic_id,
                        session_id=session.id,
                        ordered_by_id=self.psychiatrist_id,
                        ordered_at=at,
                        protocol_code="depression-induction",
                        dosing_weight_kg=WEIGHT_KG,
                        dose_mg_per_kg=0.5,
                        dose_mg=35.0,
                        duration_min=40.0,
                        bag_drug_mg=100.0,
                        bag_volume_ml=100.0,
                        rate_ml_per_h=52.5,
                        volume_ml=35.0,
                        recorded_by_id=self.psychiatrist_id,
                    )
                )
            if started:
                db.add(
                    m.AdministrationEvent(
                        clinic_id=self.clinic_id,
                        session_id=session.id,
                        kind=AdministrationKind.START,
                        occurred_at=at + timedelta(minutes=1),
                        rate_ml_per_h=52.5,
                        rate_mg_per_min=35.0 / 40,
                        cumulative_mg=0.0,
                    )
                )
            db.commit()
            sid: uuid.UUID = session.id
            return sid

    def vital(
        self, session_id: uuid.UUID, at: datetime, bp: tuple[int, int], heart_rate: int = 72
    ) -> uuid.UUID:
        """A reading charted by nurse1.aus at `at` (baseline phase)."""
        with Session(self.engine) as db:
            row = m.VitalSign(
                clinic_id=self.clinic_id,
                patient_id=self.patient_id,
                session_id=session_id,
                measured_at=at,
                phase=VitalPhase.BASELINE,
                source=VitalSource.MANUAL,
                systolic_mmhg=bp[0],
                diastolic_mmhg=bp[1],
                heart_rate_bpm=heart_rate,
                recorded_at=at,
                recorded_by_id=self.nurse_id,
            )
            db.add(row)
            db.commit()
            vid: uuid.UUID = row.id
            return vid

    def answers(
        self,
        at: datetime,
        answers: list[int | None],
        *,
        instrument: Instrument = Instrument.PHQ9,
        respondent: Respondent = Respondent.PATIENT,
        session_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """A questionnaire answered at `at` (by the patient, unless said otherwise)."""
        with Session(self.engine) as db:
            row = m.QuestionnaireResponse(
                clinic_id=self.clinic_id,
                patient_id=self.patient_id,
                session_id=session_id,
                instrument=instrument,
                answers=answers,
                total=sum(a or 0 for a in answers),
                respondent=respondent,
                answered_at=at,
                for_date=at.date(),
                recorded_at=at,
                recorded_by_id=None if respondent == Respondent.PATIENT else self.nurse_id,
            )
            db.add(row)
            db.commit()
            rid: uuid.UUID = row.id
            return rid

    def count(self, model: Any, **where: Any) -> int:
        with self.engine.connect() as conn:
            stmt = select(func.count()).select_from(model)
            for key, value in where.items():
                stmt = stmt.where(getattr(model, key) == value)
            return conn.scalar(stmt) or 0

    def get(self, model: Any, row_id: uuid.UUID) -> Any:
        with Session(self.engine, expire_on_commit=False) as db:
            row = db.get(model, row_id)
            db.expunge_all()
            return row

    def amendments_of(self, model: Any, row_id: uuid.UUID) -> list[Any]:
        with Session(self.engine) as db:
            rows = list(db.scalars(select(model).where(model.amends_id == row_id)))
            db.expunge_all()
            return rows

    def audits(self, action: str, entity_id: uuid.UUID | None = None) -> list[m.AuditEvent]:
        with Session(self.engine) as db:
            stmt = select(m.AuditEvent).where(
                m.AuditEvent.action == action, m.AuditEvent.patient_id == self.patient_id
            )
            if entity_id is not None:
                stmt = stmt.where(m.AuditEvent.entity_id == entity_id)
            rows = list(db.scalars(stmt.order_by(m.AuditEvent.occurred_at)))
            db.expunge_all()
            return rows
