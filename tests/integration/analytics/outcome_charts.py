"""Hand-made charts for the outcome tests: a few courses whose outcomes are known by construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import (
    AdministrationKind,
    AppointmentKind,
    AppointmentStatus,
    Instrument,
    Respondent,
    Role,
    Severity,
    SideEffectKind,
    TreatmentPhase,
)
from tests.factories import T0, make_clinic, make_patient, make_staff


@dataclass
class Clinic:
    clinic: m.Clinic
    nurse: m.StaffUser
    psychiatrist: m.StaffUser
    recovery_minutes: list[float] = field(default_factory=list)


def clinic(db: Session, org: m.Organization | None = None) -> Clinic:
    c = make_clinic(db, org)
    return Clinic(c, make_staff(db, c, Role.NURSE), make_staff(db, c, Role.PSYCHIATRIST))


def phq9(
    db: Session, c: Clinic, patient: m.Patient, total: int, at: object, session_id: object = None
) -> m.QuestionnaireResponse:
    row = m.QuestionnaireResponse(
        clinic_id=c.clinic.id,
        patient_id=patient.id,
        session_id=session_id,
        instrument=Instrument.PHQ9,
        answers=[0] * 9,
        total=total,
        respondent=Respondent.PATIENT,
        answered_at=at,
        for_date=at.date(),  # type: ignore[attr-defined]
    )
    db.add(row)
    db.flush()
    return row


def course(
    db: Session,
    c: Clinic,
    *,
    before: list[int],
    end: int | None,
    planned: int = 3,
    protocol: str = "depression-induction",
    cadss: list[int] | None = None,
    booked: bool = False,
    recovery_minutes: float = 120.0,
    start_day: int = 0,
) -> m.Patient:
    """A course with PHQ-9 `before` each infusion (one infusion per value) and `end` after."""
    patient = make_patient(db, c.clinic)
    ids = {"clinic_id": c.clinic.id}
    plan = m.TreatmentPlan(
        **ids,
        patient_id=patient.id,
        protocol_code=protocol,
        planned_infusions=planned,
        target_dose_mg_per_kg=0.5,
        infusion_minutes=40,
        created_by_id=c.psychiatrist.id,
    )
    db.add(plan)
    db.flush()
    last = T0
    for n, total in enumerate(before, start=1):
        at = T0 + timedelta(days=start_day + 3 * (n - 1))
        appt = m.Appointment(
            **ids,
            patient_id=patient.id,
            treatment_plan_id=plan.id,
            kind=AppointmentKind.INFUSION,
            starts_at=at,
            ends_at=at + timedelta(hours=3),
            status=AppointmentStatus.COMPLETED,
            escort_name="Dana Reyes",
            escort_phone="555-0100",
        )
        db.add(appt)
        db.flush()
        session = m.InfusionSession(
            **ids,
            patient_id=patient.id,
            appointment_id=appt.id,
            treatment_plan_id=plan.id,
            series_number=n,
            phase=TreatmentPhase.INDUCTION if n <= planned else TreatmentPhase.MAINTENANCE,
            opened_at=at,
        )
        db.add(session)
        db.flush()
        phq9(db, c, patient, total, at - timedelta(minutes=5), session.id)
        fact = {"clinic_id": c.clinic.id, "session_id": session.id, "recorded_by_id": c.nurse.id}
        if cadss is not None:
            db.add(
                m.QuestionnaireResponse(
                    clinic_id=c.clinic.id,
                    patient_id=patient.id,
                    session_id=session.id,
                    instrument=Instrument.CADSS,
                    answers=[0] * 23,
                    total=cadss[n - 1],
                    respondent=Respondent.CLINICIAN,
                    answered_at=at + timedelta(minutes=40),
                    for_date=at.date(),
                )
            )
        stop = at + timedelta(minutes=55)
        db.add_all(
            [
                m.AdministrationEvent(**fact, kind=AdministrationKind.START, occurred_at=at, cumulative_mg=0),
                m.AdministrationEvent(
                    **fact, kind=AdministrationKind.STOP, occurred_at=stop, cumulative_mg=35
                ),
                m.Discharge(
                    **fact,
                    discharged_at=stop + timedelta(minutes=recovery_minutes + n),
                    recovery_score_kind="modified_aldrete",
                    recovery_score=10,
                    escort_name="Dana Reyes",
                    escort_phone="555-0100",
                    instructions_given=True,
                ),
            ]
        )
        c.recovery_minutes.append(recovery_minutes + n)
        last = at
    if end is not None:
        phq9(db, c, patient, end, last + timedelta(days=7))
    if booked:
        db.add(
            m.Appointment(
                **ids,
                patient_id=patient.id,
                treatment_plan_id=plan.id,
                kind=AppointmentKind.INFUSION,
                starts_at=last + timedelta(days=3),
                ends_at=last + timedelta(days=3, hours=3),
                status=AppointmentStatus.BOOKED,
                escort_name="Dana Reyes",
                escort_phone="555-0100",
            )
        )
    db.flush()
    return patient


def side_effect(
    db: Session, c: Clinic, session: m.InfusionSession, kind: SideEffectKind, *, adverse: bool = False
) -> m.SideEffect:
    row = m.SideEffect(
        clinic_id=c.clinic.id,
        session_id=session.id,
        recorded_by_id=c.nurse.id,
        kind=kind,
        severity=Severity.MODERATE if adverse else Severity.MILD,
        onset_at=session.opened_at + timedelta(minutes=20),
        is_adverse_event=adverse,
    )
    db.add(row)
    db.flush()
    return row
