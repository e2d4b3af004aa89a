"""A patient's chart: who they are, their history, their series and their questionnaires."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, func, select
from sqlalchemy.orm import Session

from ketaflow.clinical.rules import default_rules
from ketaflow.errors import NotFound
from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.corrections import CorrectionLine, history
from ketaflow.services.patient_reports import HomeAnswer, scored
from ketaflow.services.permissions import Action, allowed, require
from ketaflow.store import models as m
from ketaflow.store.facts import current
from ketaflow.vocabulary import Respondent


@dataclass(frozen=True)
class InfusionLine:
    session_id: uuid.UUID
    opened_at: datetime
    series_number: int
    phase: str
    dose_mg: float | None
    dose_mg_per_kg: float | None
    side_effects: int
    discharged_at: datetime | None


@dataclass(frozen=True)
class ScorePoint:
    instrument: str
    answered_at: datetime
    total: int | None
    id: uuid.UUID | None = None  # the questionnaire response (its current version), to correct it
    respondent: str | None = None  # patient or clinician


@dataclass(frozen=True)
class DischargeAlert:
    """Suicidal ideation found at an infusion's discharge check, and what became of the discharge."""

    session_id: uuid.UUID
    series_number: int
    screened_at: datetime
    message: str
    source: str
    discharged_at: datetime | None  # discharged later (by the psychiatrist, after assessing)
    assessment: str | None  # the psychiatrist's assessment, when they discharged the patient


@dataclass(frozen=True)
class Chart:
    patient: m.Patient
    clinic: m.Clinic
    weight: m.BodyMeasurement | None
    diagnoses: list[m.Diagnosis]
    medications: list[m.Medication]
    allergies: list[m.Allergy]
    consultations: list[m.Consultation]
    plans: list[m.TreatmentPlan]
    infusions: list[InfusionLine]
    scores: list[ScorePoint]
    # Questionnaires the patient answered from home whose answers raise an alert (e.g. PHQ-9
    # item 9 above 0: a same-day suicide-risk review), newest first.
    home_alerts: list[HomeAnswer]
    # False for a reader who may open the chart but not clinical records (the front desk):
    # diagnoses, consultations, plans, infusions and questionnaires are then left out (empty,
    # and not read at all), and the page says so rather than showing "none".
    clinical: bool = True
    # Every correction (amendment) of the patient's vitals, dose orders, side effects and
    # questionnaires, newest first: who changed which entry, when, why, old -> new.
    corrections: list[CorrectionLine] = field(default_factory=list)
    # Suicidal ideation found at a discharge check (the repeat suicide-risk screen), newest first:
    # flagged for the psychiatrist like a home item-9 answer.
    discharge_alerts: list[DischargeAlert] = field(default_factory=list)
    # Each discharged infusion's after-care sheet (session id, discharged at), newest first: for
    # every reader of the chart, the front desk included, who often hands the sheet over.
    aftercare_sheets: list[tuple[uuid.UUID, datetime]] = field(default_factory=list)


def chart(db: Session, who: CurrentUser, patient_id: uuid.UUID) -> Chart:
    """The whole chart in a fixed number of indexed queries; the read is audited."""
    this = {"patient_id": patient_id}
    found = db.execute(_PATIENT, this).first()
    if found is None:
        raise NotFound("There is no such patient.")
    patient, clinic = found._tuple()
    require(who, Action.READ_CHART, patient.clinic_id)

    weight = db.scalars(_WEIGHTS, this).first()
    administrative = Chart(
        patient=patient,
        clinic=clinic,
        weight=weight,
        diagnoses=[],
        medications=_history(db, patient_id, m.Medication),
        allergies=_history(db, patient_id, m.Allergy),
        consultations=[],
        plans=[],
        infusions=[],
        scores=[],
        home_alerts=[],
        clinical=False,
        aftercare_sheets=[(sid, at) for sid, at in db.execute(_AFTERCARE_SHEETS, this).tuples()],
    )
    if allowed(who, Action.READ_CLINICAL, patient.clinic_id):
        parts = _clinical_parts(db, patient_id)
        series = {line.session_id: line.series_number for line in parts["infusions"]}
        corrections = history(db, patient_id, ZoneInfo(clinic.timezone), series=series)
        result = replace(administrative, clinical=True, corrections=corrections, **parts)
    else:
        result = administrative
    record_read(
        db,
        who.actor(),
        "patient.read",
        "patient",
        patient_id,
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
    )
    return result


def _history(db: Session, patient_id: uuid.UUID, model: Any) -> list[Any]:
    """The patient's current (as corrected) rows of one history table, in the table's order."""
    return list(db.scalars(_HISTORIES[model], {"patient_id": patient_id}))


def _clinical_parts(db: Session, patient_id: uuid.UUID) -> dict[str, Any]:
    """The chart's clinical records: history, series with doses and side effects, questionnaires."""
    this = {"patient_id": patient_id}
    sessions = db.scalars(_SESSIONS, this).all()
    ids = {"session_ids": [s.id for s in sessions]}
    # Each of these goes straight to its session_id index with the patient's session ids, and
    # reads the current version of each fact (a corrected dose or discharge time shows corrected).
    orders = {sid: (mg, mgkg) for sid, mg, mgkg in db.execute(_DOSES, ids)}
    effects: dict[uuid.UUID, int] = dict(db.execute(_SIDE_EFFECT_COUNTS, ids).tuples().all())
    discharged = db.execute(_DISCHARGES, ids).all()
    discharges: dict[uuid.UUID, datetime] = {sid: at for sid, at, _ in discharged}
    assessments: dict[uuid.UUID, str | None] = {sid: note for sid, _, note in discharged}
    infusions = [
        InfusionLine(
            session_id=s.id,
            opened_at=s.opened_at,
            series_number=s.series_number,
            phase=s.phase,
            dose_mg=orders.get(s.id, (None, None))[0],
            dose_mg_per_kg=orders.get(s.id, (None, None))[1],
            side_effects=effects.get(s.id, 0),
            discharged_at=discharges.get(s.id),
        )
        for s in sessions
    ]
    responses = db.scalars(_RESPONSES, this).all()
    scores = [ScorePoint(q.instrument, q.answered_at, q.total, q.id, q.respondent) for q in responses]
    home = [scored(q) for q in responses if q.respondent == Respondent.PATIENT and q.session_id is None]
    home_alerts = [a for a in reversed(home) if a.alerts]
    series = {s.id: s.series_number for s in sessions}
    rule = default_rules().discharge.suicidal_ideation
    discharge_alerts = [
        DischargeAlert(
            session_id=sid,
            series_number=series[sid],
            screened_at=at,
            message=rule.unmet,
            source=rule.source,
            discharged_at=discharges.get(sid),
            assessment=assessments.get(sid),
        )
        for sid, at in db.execute(_IDEATION_SCREENS, ids).tuples()
    ]
    return {
        "diagnoses": _history(db, patient_id, m.Diagnosis),
        "consultations": _history(db, patient_id, m.Consultation),
        "plans": list(db.scalars(_PLANS, this)),
        "infusions": infusions,
        "scores": scores,
        "home_alerts": home_alerts,
        "discharge_alerts": discharge_alerts,
    }


# The chart's statements, built once: building a statement and its cache key cost about as much
# as running it (0.1-0.3 ms each, twenty per chart). The values are bound at each call.
_PATIENT_ID: BindParameter[Any] = bindparam("patient_id")
_SESSION_IDS: BindParameter[Any] = bindparam("session_ids", expanding=True)
_PATIENT = (
    select(m.Patient, m.Clinic)
    .join(m.Clinic, m.Clinic.id == m.Patient.clinic_id)
    .where(m.Patient.id == _PATIENT_ID)
)
_WEIGHTS = (
    current(m.BodyMeasurement)
    .where(m.BodyMeasurement.patient_id == _PATIENT_ID)
    .order_by(m.BodyMeasurement.measured_at.desc())
)
_AFTERCARE_SHEETS = (
    current(m.Discharge)
    .with_only_columns(m.Discharge.session_id, m.Discharge.discharged_at)
    .join(m.InfusionSession, m.InfusionSession.id == m.Discharge.session_id)
    .where(m.InfusionSession.patient_id == _PATIENT_ID)
    .order_by(m.Discharge.discharged_at.desc())
)
# Each history table, in its order.
_HISTORIES: dict[Any, Any] = {
    model: current(model).where(model.patient_id == _PATIENT_ID).order_by(order)
    for model, order in (
        (m.Medication, m.Medication.recorded_at),
        (m.Allergy, m.Allergy.recorded_at),
        (m.Diagnosis, m.Diagnosis.recorded_at),
        (m.Consultation, m.Consultation.held_at),
    )
}
_SESSIONS = (
    select(m.InfusionSession)
    .where(m.InfusionSession.patient_id == _PATIENT_ID)
    .order_by(m.InfusionSession.opened_at)
)
# Each of these goes straight to its session_id index with the patient's session ids, and reads
# the current version of each fact (a corrected dose or discharge time shows corrected).
_DOSES = (
    current(m.DoseOrder)
    .with_only_columns(m.DoseOrder.session_id, m.DoseOrder.dose_mg, m.DoseOrder.dose_mg_per_kg)
    .where(m.DoseOrder.session_id.in_(_SESSION_IDS))
    .order_by(m.DoseOrder.ordered_at)
)
_SIDE_EFFECT_COUNTS = (
    current(m.SideEffect)
    .with_only_columns(m.SideEffect.session_id, func.count())
    .where(m.SideEffect.session_id.in_(_SESSION_IDS))
    .group_by(m.SideEffect.session_id)
)
_DISCHARGES = (
    current(m.Discharge)
    .with_only_columns(m.Discharge.session_id, m.Discharge.discharged_at, m.Discharge.suicide_risk_assessment)
    .where(m.Discharge.session_id.in_(_SESSION_IDS))
)
_RESPONSES = (
    current(m.QuestionnaireResponse)
    .where(m.QuestionnaireResponse.patient_id == _PATIENT_ID)
    .order_by(m.QuestionnaireResponse.answered_at)
)
_IDEATION_SCREENS = (
    current(m.DischargeScreen)
    .with_only_columns(m.DischargeScreen.session_id, m.DischargeScreen.screened_at)
    .where(m.DischargeScreen.session_id.in_(_SESSION_IDS), m.DischargeScreen.suicidal_ideation == "present")
    .order_by(m.DischargeScreen.screened_at.desc())
)
_PLANS = select(m.TreatmentPlan).where(m.TreatmentPlan.patient_id == _PATIENT_ID)
