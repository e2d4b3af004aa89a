"""The patient's own page: next appointments, questions for the psychiatrist, questionnaires due.

Every function takes the signed-in patient (`CurrentPatient`, from a patient session), never
a patient id from the request, so a patient can only ever reach their own record. Every read
and write is audited with actor_label "patient" and the patient's id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaflow.clinical.scales import SUICIDE_REVIEW, Questionnaire, ScaleScore, describe_instrument, score
from ketaflow.errors import InvalidInput, NotFound
from ketaflow.fhir.mapping import collection_bundle
from ketaflow.services import alerts
from ketaflow.services.audit import record, record_read
from ketaflow.services.fhir_record import patient_resources
from ketaflow.services.home_questionnaires import DUE_EVERY, DUE_SOURCE
from ketaflow.services.patient_access import EMAILED_BY, CurrentPatient
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.store.facts import current
from ketaflow.vocabulary import AppointmentStatus, Instrument, Respondent

QUESTION_MAX_CHARS = 2000
UPCOMING = (AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN)


@dataclass(frozen=True)
class Due:
    instrument: str  # "phq9" / "gad7" / "cssrs_screen" (the URL key)
    name: str
    title: str
    due: bool
    last_answered_at: datetime | None
    every_days: int
    source: str


@dataclass(frozen=True)
class Home:
    patient: m.Patient
    clinic: m.Clinic
    zone: ZoneInfo
    appointments: list[m.Appointment]
    first_visit: bool  # no infusion yet: the preparation information matters most now
    questions: list[m.PatientQuestion]
    due: list[Due]
    # Who at the clinic gave the link this session was opened with, and when it was opened: the
    # patient can tell the clinic if they never used that link (issue 11: links are the patient's).
    link_from: str | None = None
    opened_at: datetime | None = None


def _audit_read(db: Session, me: CurrentPatient, action: str) -> None:
    record_read(
        db,
        me.actor(),
        action,
        "patient",
        me.patient.id,
        clinic_id=me.clinic.id,
        patient_id=me.patient.id,
    )


def _questions(db: Session, patient_id: uuid.UUID) -> list[m.PatientQuestion]:
    return list(
        db.scalars(
            current(m.PatientQuestion)
            .where(m.PatientQuestion.patient_id == patient_id)
            .order_by(m.PatientQuestion.asked_at.desc())
        )
    )


def _due(db: Session, patient_id: uuid.UUID, now: datetime) -> list[Due]:
    rows = db.execute(
        select(m.QuestionnaireResponse.instrument, func.max(m.QuestionnaireResponse.answered_at))
        .where(
            m.QuestionnaireResponse.patient_id == patient_id,
            m.QuestionnaireResponse.instrument.in_(list(DUE_EVERY)),
        )
        .group_by(m.QuestionnaireResponse.instrument)
    ).all()
    last: dict[Instrument, datetime] = {}
    for instrument, at in rows:
        last[instrument] = at
    out = []
    for instrument, every in DUE_EVERY.items():
        form = describe_instrument(instrument.value)
        at = last.get(instrument)
        out.append(
            Due(
                instrument.value,
                form.name,
                form.title,
                at is None or at <= now - every,
                at,
                every.days,
                DUE_SOURCE,
            )
        )
    return out


def home(db: Session, me: CurrentPatient, now: datetime) -> Home:
    """What the patient sees on /me; the read is audited."""
    pid = me.patient.id
    appointments = list(
        db.scalars(
            select(m.Appointment)
            .where(
                m.Appointment.patient_id == pid,
                m.Appointment.starts_at >= now - timedelta(hours=12),
                m.Appointment.status.in_(UPCOMING),
            )
            .order_by(m.Appointment.starts_at)
            .limit(10)
        )
    )
    infusions = db.scalar(
        select(func.count()).select_from(m.InfusionSession).where(m.InfusionSession.patient_id == pid)
    )
    link_from = None
    if me.session.link_id is not None:
        row = db.execute(
            select(m.PatientAccessLink.created_by_id, m.StaffUser.full_name)
            .outerjoin(m.StaffUser, m.PatientAccessLink.created_by_id == m.StaffUser.id)
            .where(m.PatientAccessLink.id == me.session.link_id)
        ).first()
        if row is not None:
            # A link nobody issued by hand came in an e-mail from the clinic (services/outbox.py).
            link_from = row.full_name if row.created_by_id is not None else EMAILED_BY
    result = Home(
        me.patient,
        me.clinic,
        ZoneInfo(me.clinic.timezone),
        appointments,
        not infusions,
        _questions(db, pid),
        _due(db, pid, now),
        link_from,
        me.session.created_at,
    )
    _audit_read(db, me, "portal.home")
    return result


def own_record(db: Session, me: CurrentPatient, now: datetime, base_url: str) -> dict[str, Any]:
    """The patient's whole record as a FHIR R4 collection Bundle (their right of access); audited."""
    bundle = collection_bundle(patient_resources(db, me.patient.id), now, base_url)
    _audit_read(db, me, "portal.record_download")
    return bundle


def session_read(db: Session, me: CurrentPatient) -> None:
    """Audit the patient reading their own session details (name, clinic, CSRF token)."""
    _audit_read(db, me, "portal.session")


def questions(db: Session, me: CurrentPatient) -> list[m.PatientQuestion]:
    """The patient's questions for the psychiatrist, newest first; the read is audited."""
    result = _questions(db, me.patient.id)
    _audit_read(db, me, "patient_question.list")
    return result


def check_question(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput("Write your question before sending it.")
    if len(text) > QUESTION_MAX_CHARS:
        raise InvalidInput(
            f"Keep a question to {QUESTION_MAX_CHARS} characters (this one has {len(text)}); "
            "split it into two questions if you need more room."
        )
    return text


def add_question(db: Session, me: CurrentPatient, text: str, now: datetime) -> m.PatientQuestion:
    """Keep a question for the psychiatrist (1 to 2000 characters)."""
    text = check_question(text)
    begin_write(db)
    question = m.PatientQuestion(
        clinic_id=me.clinic.id,
        patient_id=me.patient.id,
        asked_at=now,
        text=text,
        recorded_at=now,
        recorded_by_id=None,
    )
    db.add(question)
    db.flush()
    record(
        db,
        me.actor(),
        "patient_question.add",
        "patient_question",
        question.id,
        clinic_id=me.clinic.id,
        patient_id=me.patient.id,
        details={"chars": len(text)},
    )
    db.commit()
    return question


def instrument_for(key: str) -> Instrument:
    """The home questionnaire named in a URL ('phq9', 'gad7' or 'cssrs_screen')."""
    try:
        instrument = Instrument(key)
    except ValueError:
        instrument = None
    if instrument not in DUE_EVERY:
        raise NotFound("There is no such questionnaire on your page.")
    assert instrument is not None
    return instrument


def questionnaire(instrument: Instrument) -> Questionnaire:
    """The items and answer wording of a home questionnaire (from the scales rules)."""
    return describe_instrument(instrument.value)


@dataclass(frozen=True)
class Submitted:
    response: m.QuestionnaireResponse
    scored: ScaleScore
    suicide_risk: bool  # a suicide-risk review was raised (PHQ-9 item 9 above 0, a positive C-SSRS screen)


def submit(
    db: Session,
    me: CurrentPatient,
    instrument: Instrument,
    answers: Sequence[int | None],
    now: datetime,
) -> Submitted:
    """Score and keep the patient's answers; all items are required (the scales rules say so).

    A suicide-risk alert (PHQ-9 item 9 above 0; a positive C-SSRS screen, any "yes") makes the
    on-call psychiatrist's task and urgent message in this transaction (services/alerts.py) and
    writes a second audit event,
    `questionnaire.suicide_risk_alert`, carrying the rules' message, so staff pages can
    find it by patient and time.
    """
    scored = score(instrument.value, list(answers))  # raises InvalidInput naming missing items
    for_date: date = now.astimezone(ZoneInfo(me.clinic.timezone)).date()
    begin_write(db)
    response = m.QuestionnaireResponse(
        clinic_id=me.clinic.id,
        patient_id=me.patient.id,
        session_id=None,
        instrument=instrument,
        answers=list(answers),
        total=scored.total,
        respondent=Respondent.PATIENT,
        answered_at=now,
        for_date=for_date,
        recorded_at=now,
        recorded_by_id=None,
    )
    db.add(response)
    db.flush()
    actor = me.actor()
    record(
        db,
        actor,
        "questionnaire.submit",
        "questionnaire_response",
        response.id,
        clinic_id=me.clinic.id,
        patient_id=me.patient.id,
        details={"instrument": instrument.value, "total": scored.total, "severity": scored.severity},
    )
    suicide_risk = any(alert.kind == SUICIDE_REVIEW for alert in scored.alerts)
    if suicide_risk:  # a person must know now (issue 17): task + urgent message, in this transaction
        why = next(alert for alert in scored.alerts if alert.kind == SUICIDE_REVIEW)
        alerts.raise_alert(
            db,
            clinic_id=me.clinic.id,
            patient_id=me.patient.id,
            source_id=response.id,
            now=now,
            actor=actor,
            reason={"instrument": instrument.value, "message": why.message, "source": why.source},
        )
    for alert in scored.alerts:
        record(
            db,
            actor,
            f"questionnaire.{alert.kind}_alert",
            "questionnaire_response",
            response.id,
            clinic_id=me.clinic.id,
            patient_id=me.patient.id,
            details={
                "instrument": instrument.value,
                "item": alert.item,
                "message": alert.message,
                "source": alert.source,
            },
        )
    db.commit()
    return Submitted(response, scored, suicide_risk)


def sent(db: Session, me: CurrentPatient, response_id: uuid.UUID) -> Submitted:
    """One of the patient's own home questionnaires, scored again for the thank-you page."""
    response = db.get(m.QuestionnaireResponse, response_id)
    if (
        response is None
        or response.patient_id != me.patient.id
        or response.respondent != Respondent.PATIENT
        or response.instrument not in DUE_EVERY
    ):
        raise NotFound("There is no such questionnaire answer on your page.")
    scored = score(response.instrument.value, response.answers)
    record_read(
        db,
        me.actor(),
        "questionnaire.read",
        "questionnaire_response",
        response.id,
        clinic_id=me.clinic.id,
        patient_id=me.patient.id,
    )
    return Submitted(response, scored, any(a.kind == SUICIDE_REVIEW for a in scored.alerts))
