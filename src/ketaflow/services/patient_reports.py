"""What a patient sent from their own page, for the clinic's staff: questions and home questionnaires.

The consultation page (the psychiatrist's) and the chart can call `patient_reports` to show
the patient's questions and any home questionnaire that raised an alert (PHQ-9 item 9
above 0: same-day suicide-risk review, per the scales rules). Alerts are re-derived from the
stored answers with `clinical.scales.score`, so they follow the clinic's current rules.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ketaflow.clinical.scales import ScaleAlert, score
from ketaflow.errors import InvalidInput, NotFound
from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.facts import current
from ketaflow.vocabulary import Respondent


@dataclass(frozen=True)
class HomeAnswer:
    """A questionnaire the patient answered from home, with what its answers raise."""

    response_id: uuid.UUID
    instrument: str
    answered_at: datetime
    total: int | None
    severity: str | None
    alerts: tuple[ScaleAlert, ...]


@dataclass(frozen=True)
class PatientReports:
    questions: list[m.PatientQuestion]  # newest first
    home_answers: list[HomeAnswer]  # newest first

    @property
    def alerts(self) -> list[HomeAnswer]:
        return [a for a in self.home_answers if a.alerts]


def scored(q: m.QuestionnaireResponse) -> HomeAnswer:
    """A stored questionnaire with its severity and the alerts its answers raise (re-derived)."""
    try:
        s = score(q.instrument.value, q.answers)
        severity, alerts = s.severity, s.alerts
    except InvalidInput:  # stored before a rules change made it unscorable: show as answered
        severity, alerts = None, ()
    return HomeAnswer(q.id, q.instrument.value, q.answered_at, q.total, severity, alerts)


def patient_reports(
    db: Session,
    who: CurrentUser,
    patient_id: uuid.UUID,
    *,
    since: datetime | None = None,
) -> PatientReports:
    """The patient's questions and home questionnaires (since `since`, if given); audited."""
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, Action.READ_CLINICAL, patient.clinic_id)
    qs = current(m.PatientQuestion).where(m.PatientQuestion.patient_id == patient_id)
    rs = current(m.QuestionnaireResponse).where(
        m.QuestionnaireResponse.patient_id == patient_id,
        m.QuestionnaireResponse.respondent == Respondent.PATIENT,
        m.QuestionnaireResponse.session_id.is_(None),
    )
    if since is not None:
        qs = qs.where(m.PatientQuestion.asked_at >= since)
        rs = rs.where(m.QuestionnaireResponse.answered_at >= since)
    questions = list(db.scalars(qs.order_by(m.PatientQuestion.asked_at.desc())))
    answers = [scored(q) for q in db.scalars(rs.order_by(m.QuestionnaireResponse.answered_at.desc()))]
    record_read(
        db,
        who.actor(),
        "patient_reports.read",
        "patient",
        patient.id,
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
    )
    return PatientReports(questions, answers)
