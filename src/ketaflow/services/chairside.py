"""The nurse in the chair: side effects, interventions, comfort, assistance requests, CADSS, vitals check.

Each function is one clinical action in one transaction, checked against the user's role
and clinic (Action.CHART_INFUSION for writes) and written to the audit trail. Charted facts
are only ever added: resolving a side effect or answering a request is an amendment row.

Once the patient is discharged no NEW entry is charted on the session (it is closed; a
late finding belongs to the next contact), but the open entries may still be closed off:
a side effect can be marked resolved and a request answered, because the record must be
able to say when they ended.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

import ketaflow.clinical as clinical
from ketaflow.errors import Conflict, InvalidInput, NotFound, Problems
from ketaflow.services import corrections, infusion
from ketaflow.services.audit import record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.infusion import charted_vitals, comfort_in_force, load_session
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write, lock_row
from ketaflow.store.facts import amend, current
from ketaflow.store.models.base import ClinicalFact
from ketaflow.vocabulary import (
    AssistanceReason,
    Instrument,
    InterventionKind,
    Respondent,
    Severity,
    SideEffectKind,
)

E = TypeVar("E", bound=StrEnum)
F = TypeVar("F", bound=ClinicalFact)

# When a time is charted: an aware datetime (API), a wall-clock time today in the clinic's
# time zone (forms), or None for now.
When = datetime | time | None

NOTES_MAX = 2000
REASON_MAX = 500


# ---- small parsers shared by the form and API paths ------------------------------------------


def parse_choice(enum: type[E], text: str | None, label: str) -> E:
    """The enum member named by `text`, or one sentence listing the choices."""
    value = (text or "").strip().lower().replace(" ", "_")
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(e.value.replace("_", " ") for e in enum)
        if not value:
            raise InvalidInput(f"Choose the {label}: {choices}.") from None
        raise InvalidInput(f"The {label} must be one of {choices}; got {text!r}.") from None


def parse_clock(text: str | None, label: str) -> time | None:
    """'14:05' -> time(14, 5); blank -> None (meaning now)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise InvalidInput(f"{label} must be a time like 14:05; got {text!r}.") from None


def _text(value: str | None, label: str, limit: int) -> str | None:
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{label} is too long ({len(value)} characters); keep it under {limit}.")
    return value or None


def _hhmm(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%H:%M")


def _zone(db: Session, session: m.InfusionSession) -> ZoneInfo:
    clinic = db.get(m.Clinic, session.clinic_id)
    return ZoneInfo(clinic.timezone if clinic else "UTC")


def _when(
    at: When,
    label: str,
    *,
    now: datetime,
    zone: ZoneInfo,
    not_before: datetime,
    not_before_label: str,
) -> datetime:
    """Resolve `at` to an aware datetime between `not_before` and now, or say what is wrong."""
    if at is None:
        resolved = now
    elif isinstance(at, datetime):
        if at.tzinfo is None:
            raise InvalidInput(f"{label} needs a time zone (for example 2026-12-01T10:05:00-06:00).")
        resolved = at
    else:
        local_day = now.astimezone(zone).date()
        resolved = datetime.combine(local_day, at, tzinfo=zone)
    if resolved > now:
        raise InvalidInput(
            f"{label} {_hhmm(resolved, zone)} is in the future (it is now {_hhmm(now, zone)}); "
            "check the time."
        )
    if resolved < not_before:
        raise InvalidInput(
            f"{label} {_hhmm(resolved, zone)} is before {not_before_label} at "
            f"{_hhmm(not_before, zone)}; check the time."
        )
    return resolved


def _chartable(db: Session, who: CurrentUser, session_id: uuid.UUID) -> m.InfusionSession:
    """The session, if this user may chart on it and the patient has not been discharged."""
    session = load_session(db, who, session_id, Action.CHART_INFUSION)
    discharged = db.scalars(current(m.Discharge).where(m.Discharge.session_id == session_id)).first()
    if discharged is not None:
        raise Conflict(
            "This patient has been discharged, so nothing new can be charted on this infusion; "
            "open side effects can still be marked resolved and requests answered."
        )
    return session


def _own(db: Session, model: type[F], row_id: uuid.UUID, session_id: uuid.UUID, what: str) -> F:
    row = db.get(model, row_id)
    if row is None or getattr(row, "session_id", None) != session_id:
        raise NotFound(f"There is no such {what} on this infusion.")
    return row


def _latest(db: Session, row: F) -> F:
    """The latest version of a charted fact (following its amendments forward)."""
    cls = type(row)
    while True:
        newer = db.scalars(select(cls).where(cls.amends_id == row.id)).first()
        if newer is None:
            return row
        row = newer


def _audit(
    db: Session,
    who: CurrentUser,
    session: m.InfusionSession,
    action: str,
    entity: str,
    entity_id: uuid.UUID,
    **details: object,
) -> None:
    record(
        db,
        who.actor(),
        action,
        entity,
        entity_id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        details={k: v for k, v in details.items() if v is not None},
    )


# ---- side effects -----------------------------------------------------------------------------


def _side_effect_fields(
    found: Problems, kind: str, severity: str, notes: str | None
) -> tuple[SideEffectKind | None, Severity | None, str | None]:
    kind_ = found.check(lambda: parse_choice(SideEffectKind, kind, "side effect"), "kind")
    severity_ = found.check(lambda: parse_choice(Severity, severity, "severity"), "severity")
    note = found.check(lambda: _text(notes, "The note", NOTES_MAX), "notes")
    return kind_, severity_, note


def check_side_effect(kind: str, severity: str, notes: str | None = None) -> None:
    """The checks of a side effect that need no database, every mistake at once (InvalidFields)."""
    found = Problems()
    _side_effect_fields(found, kind, severity, notes)
    found.raise_any()


def chart_side_effect(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    *,
    kind: str,
    severity: str,
    onset: When = None,
    adverse_event: bool = False,
    notes: str | None = None,
    now: datetime,
) -> m.SideEffect:
    """Chart a side effect (or adverse event) with its onset, not in the future nor before the visit.
    Every mistake is told at once, each tagged with its field (InvalidFields)."""
    found = Problems()
    kind_, severity_, note = _side_effect_fields(found, kind, severity, notes)
    begin_write(db)
    session = _chartable(db, who, session_id)
    zone = _zone(db, session)
    onset_at = found.check(
        lambda: _when(
            onset,
            "The onset",
            now=now,
            zone=zone,
            not_before=session.opened_at,
            not_before_label="this infusion was opened",
        ),
        "onset_at",
    )
    found.raise_any()
    assert kind_ is not None and severity_ is not None and onset_at is not None
    row = m.SideEffect(
        clinic_id=session.clinic_id,
        session_id=session_id,
        kind=kind_,
        severity=severity_,
        onset_at=onset_at,
        resolved_at=None,
        is_adverse_event=bool(adverse_event),
        notes=note,
        recorded_by_id=who.user.id,
        recorded_at=now,
    )
    db.add(row)
    db.flush()
    _audit(
        db,
        who,
        session,
        "side_effect.create",
        "side_effect",
        row.id,
        kind=kind_.value,
        severity=severity_.value,
        adverse_event=bool(adverse_event) or None,
    )
    db.commit()
    return row


def resolve_side_effect(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    side_effect_id: uuid.UUID,
    *,
    resolved: When = None,
    now: datetime,
) -> m.SideEffect:
    """Mark a side effect resolved: a new row amending it; the charted original stays as it was."""
    begin_write(db)
    session = load_session(db, who, session_id, Action.CHART_INFUSION)
    # Amendments on one session are serialized: two nurses answering one request cannot both.
    lock_row(db, m.InfusionSession, session_id)
    latest = _latest(db, _own(db, m.SideEffect, side_effect_id, session_id, "side effect"))
    zone = _zone(db, session)
    if latest.resolved_at is not None:
        raise Conflict(
            f"This {latest.kind.replace('_', ' ')} was already marked resolved at "
            f"{_hhmm(latest.resolved_at, zone)}."
        )
    resolved_at = _when(
        resolved,
        "The resolution time",
        now=now,
        zone=zone,
        not_before=latest.onset_at,
        not_before_label="its onset",
    )
    row = amend(
        db, latest, reason="resolved", by_user_id=who.user.id, recorded_at=now, resolved_at=resolved_at
    )
    _audit(db, who, session, "side_effect.resolve", "side_effect", row.id, amends=str(latest.id))
    db.commit()
    return row


def correct_side_effect(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    side_effect_id: uuid.UUID,
    *,
    kind: str,
    severity: str,
    onset: When = None,
    adverse_event: bool,
    notes: str | None,
    reason: str,
    now: datetime,
) -> m.SideEffect:
    """Correct a charted side effect (its kind, severity, onset, adverse-event flag or note): a new row
    amending it, checked as a new entry is; the original stays. The onset left out keeps the
    charted one; a time of day is read on the day of the charted onset. Allowed after discharge:
    the record must be right. Whether and when it resolved is kept (resolving is its own action)."""
    kind_ = parse_choice(SideEffectKind, kind, "side effect")
    severity_ = parse_choice(Severity, severity, "severity")
    note = _text(notes, "The note", NOTES_MAX)
    begin_write(db)
    original = corrections.fetch(db, m.SideEffect, side_effect_id, "side effect", session_id=session_id)
    require(who, Action.CORRECT_SIDE_EFFECT, original.clinic_id)
    corrections.claim(db, original, "side effect")
    text = corrections.check_reason(reason)
    session = load_session(db, who, session_id, Action.READ_CLINICAL)
    zone = _zone(db, session)
    if onset is None:
        onset_at = original.onset_at
    else:
        if isinstance(onset, time):
            onset = datetime.combine(original.onset_at.astimezone(zone).date(), onset, tzinfo=zone)
        onset_at = _when(
            onset,
            "The onset",
            now=now,
            zone=zone,
            not_before=session.opened_at,
            not_before_label="this infusion was opened",
        )
    if original.resolved_at is not None and onset_at > original.resolved_at:
        raise InvalidInput(
            f"The onset {_hhmm(onset_at, zone)} is after the side effect was marked resolved at "
            f"{_hhmm(original.resolved_at, zone)}; check the time."
        )
    row = corrections.save(
        db,
        who,
        original,
        reason=text,
        patient_id=session.patient_id,
        changes={
            "kind": kind_,
            "severity": severity_,
            "onset_at": onset_at,
            "is_adverse_event": bool(adverse_event),
            "notes": note,
        },
        now=now,
    )
    db.commit()
    return row


# ---- interventions ----------------------------------------------------------------------------


def _intervention_fields(
    found: Problems, kind: str, drug_name: str | None, dose_text: str | None, description: str | None
) -> tuple[InterventionKind | None, str | None, str | None, str | None]:
    kind_ = found.check(lambda: parse_choice(InterventionKind, kind, "intervention kind"), "kind")
    drug = found.check(lambda: _text(drug_name, "The drug name", 120), "drug_name")
    dose = found.check(lambda: _text(dose_text, "The dose", 60), "dose_text")
    what = found.check(lambda: _text(description, "The description", 255), "description")
    if kind_ is InterventionKind.DRUG:
        if not drug and "drug_name" not in found:
            found.add("drug_name", "Name the drug given (for example ondansetron).")
        if not dose and "dose_text" not in found:
            found.add("dose_text", f"Write the dose of {drug or 'the drug'} given: amount, unit and route.")
        if drug and dose:
            what = found.check(
                lambda: _text(f"{drug} {dose}" + (f": {what}" if what else ""), "The description", 255),
                "description",
            )
    elif kind_ is InterventionKind.ACTION:
        if drug or dose:
            found.add(
                "drug_name" if drug else "dose_text",
                "A drug name and dose belong to a drug intervention; choose 'drug' as the kind.",
            )
        if not what and "description" not in found:
            found.add("description", "Describe the action taken (for example reassurance, repositioned).")
    return kind_, drug, dose, what


def check_intervention(
    kind: str, drug_name: str | None = None, dose_text: str | None = None, description: str | None = None
) -> None:
    """The checks of an intervention that need no database, every mistake at once (InvalidFields)."""
    found = Problems()
    _intervention_fields(found, kind, drug_name, dose_text, description)
    found.raise_any()


def record_intervention(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    *,
    kind: str,
    drug_name: str | None = None,
    dose_text: str | None = None,
    description: str | None = None,
    side_effect_id: uuid.UUID | None = None,
    given: When = None,
    now: datetime,
) -> m.Intervention:
    """Chart a drug given (name and dose, e.g. ondansetron 4 mg IV) or an action taken.
    Every mistake is told at once, each tagged with its field (InvalidFields)."""
    found = Problems()
    kind_, drug, dose, what = _intervention_fields(found, kind, drug_name, dose_text, description)
    begin_write(db)
    session = _chartable(db, who, session_id)
    linked = None
    if side_effect_id is not None:
        linked = _own(db, m.SideEffect, side_effect_id, session_id, "side effect")
    zone = _zone(db, session)
    given_at = found.check(
        lambda: _when(
            given,
            "The time given",
            now=now,
            zone=zone,
            not_before=session.opened_at,
            not_before_label="this infusion was opened",
        ),
        "given_at",
    )
    found.raise_any()
    assert kind_ is not None and what is not None and given_at is not None
    row = m.Intervention(
        clinic_id=session.clinic_id,
        session_id=session_id,
        side_effect_id=linked.id if linked else None,
        kind=kind_,
        description=what,
        drug_name=drug,
        dose_text=dose,
        given_at=given_at,
        recorded_by_id=who.user.id,
        recorded_at=now,
    )
    db.add(row)
    db.flush()
    _audit(
        db,
        who,
        session,
        "intervention.create",
        "intervention",
        row.id,
        kind=kind_.value,
        side_effect=str(linked.id) if linked else None,
    )
    db.commit()
    return row


# ---- comfort ----------------------------------------------------------------------------------

COMFORT_FIELDS = ("music", "dimmed_light", "eye_mask", "companion_present")


def set_comfort(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    *,
    music: bool,
    dimmed_light: bool,
    eye_mask: bool,
    companion_present: bool,
    now: datetime,
) -> tuple[m.ComfortSetting, bool]:
    """Record the comfort settings now in force (a new row per change); (row, whether it changed)."""
    begin_write(db)
    session = _chartable(db, who, session_id)
    # Amendments on one session are serialized: two nurses answering one request cannot both.
    lock_row(db, m.InfusionSession, session_id)
    wanted = {
        "music": music,
        "dimmed_light": dimmed_light,
        "eye_mask": eye_mask,
        "companion_present": companion_present,
    }
    now_in_force = comfort_in_force(db, session_id)
    if now_in_force is not None and all(getattr(now_in_force, k) == v for k, v in wanted.items()):
        db.rollback()
        return now_in_force, False  # nothing changed: a repeated click adds no row
    row = m.ComfortSetting(
        clinic_id=session.clinic_id,
        session_id=session_id,
        set_at=now,
        recorded_by_id=who.user.id,
        # recorded_at: the real time of charting, which orders two changes in the same minute.
        **wanted,
    )
    db.add(row)
    db.flush()
    _audit(db, who, session, "comfort.set", "comfort_setting", row.id, **wanted)
    db.commit()
    return row, True


# ---- assistance requests -----------------------------------------------------------------------


def _assistance_fields(
    found: Problems, reason: str, notes: str | None
) -> tuple[AssistanceReason | None, str | None]:
    reason_ = found.check(lambda: parse_choice(AssistanceReason, reason, "reason for the request"), "reason")
    note = found.check(lambda: _text(notes, "The note", NOTES_MAX), "notes")
    return reason_, note


def check_assistance(reason: str, notes: str | None = None) -> None:
    """The checks of a request for help that need no database, every mistake at once (InvalidFields)."""
    found = Problems()
    _assistance_fields(found, reason, notes)
    found.raise_any()


def request_assistance(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    *,
    reason: str,
    asked: When = None,
    notes: str | None = None,
    now: datetime,
) -> m.AssistanceRequest:
    """Chart that the patient asked for help (e.g. to walk to the restroom) and when.
    Every mistake is told at once, each tagged with its field (InvalidFields)."""
    found = Problems()
    reason_, note = _assistance_fields(found, reason, notes)
    begin_write(db)
    session = _chartable(db, who, session_id)
    zone = _zone(db, session)
    asked_at = found.check(
        lambda: _when(
            asked,
            "The time asked",
            now=now,
            zone=zone,
            not_before=session.opened_at,
            not_before_label="this infusion was opened",
        ),
        "asked_at",
    )
    found.raise_any()
    assert reason_ is not None and asked_at is not None
    row = m.AssistanceRequest(
        clinic_id=session.clinic_id,
        session_id=session_id,
        reason=reason_,
        asked_at=asked_at,
        helped_at=None,
        helped_by_id=None,
        notes=note,
        recorded_by_id=who.user.id,
        recorded_at=now,
    )
    db.add(row)
    db.flush()
    _audit(db, who, session, "assistance.create", "assistance_request", row.id, reason=reason_.value)
    db.commit()
    return row


def answer_assistance(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    request_id: uuid.UUID,
    *,
    helped: When = None,
    now: datetime,
) -> m.AssistanceRequest:
    """Chart that the request was answered, by whom and when: a new row amending the request."""
    begin_write(db)
    session = load_session(db, who, session_id, Action.CHART_INFUSION)
    # Amendments on one session are serialized: two nurses answering one request cannot both.
    lock_row(db, m.InfusionSession, session_id)
    latest = _latest(db, _own(db, m.AssistanceRequest, request_id, session_id, "request for help"))
    zone = _zone(db, session)
    if latest.helped_at is not None:
        raise Conflict(f"This request was already answered at {_hhmm(latest.helped_at, zone)}.")
    helped_at = _when(
        helped,
        "The time helped",
        now=now,
        zone=zone,
        not_before=latest.asked_at,
        not_before_label="the request",
    )
    row = amend(
        db, latest, reason="answered", by_user_id=who.user.id, helped_at=helped_at, helped_by_id=who.user.id
    )
    _audit(
        db,
        who,
        session,
        "assistance.answer",
        "assistance_request",
        row.id,
        amends=str(latest.id),
        waited_min=round((helped_at - latest.asked_at).total_seconds() / 60, 1),
    )
    db.commit()
    return row


# ---- CADSS -------------------------------------------------------------------------------------


def cadss_form() -> clinical.Questionnaire:
    """The CADSS items and allowed answers, as the rules file defines them."""
    return clinical.describe_instrument(Instrument.CADSS.value)


def rate_cadss(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    answers: list[int | None],
    *,
    now: datetime,
) -> tuple[m.QuestionnaireResponse, clinical.ScaleScore]:
    """Score a clinician-rated CADSS (Bremner 1998) and store it with the infusion."""
    scored = clinical.score(Instrument.CADSS.value, answers)  # refuses missing or out-of-range items
    begin_write(db)
    session = _chartable(db, who, session_id)
    zone = _zone(db, session)
    row = m.QuestionnaireResponse(
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        session_id=session_id,
        instrument=Instrument.CADSS,
        answers=list(answers),
        total=scored.total,
        respondent=Respondent.CLINICIAN,
        answered_at=now,
        for_date=now.astimezone(zone).date(),
        recorded_by_id=who.user.id,
        recorded_at=now,
    )
    db.add(row)
    db.flush()
    _audit(db, who, session, "cadss.create", "questionnaire_response", row.id, total=scored.total)
    db.commit()
    return row, scored


# ---- vitals as they are typed ------------------------------------------------------------------


@dataclass(frozen=True)
class VitalsCheck:
    level: str
    alerts: tuple[clinical.VitalAlert, ...]
    actions: tuple[str, ...]
    baseline: clinical.VitalSigns | None


def check_vitals(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    *,
    bp: str | None,
    heart_rate: float | None,
    spo2: float | None,
    respiratory_rate: float | None,
    sedation: int | None = None,
    now: datetime,
) -> VitalsCheck:
    """Classify typed vitals as charting them now would (`infusion.assess_reading`: against this
    session's baseline, its first reading; while the infusion runs, with the confirmed-pause rule),
    except that a reading not typed yet raises no alert; nothing is written but the audited read."""
    session = load_session(db, who, session_id, Action.READ_CLINICAL)
    pressure = clinical.parse_bp(bp) if bp and bp.strip() else None
    signs = clinical.VitalSigns(
        bp=pressure,
        heart_rate_per_min=heart_rate,
        spo2_percent=spo2,
        respiratory_rate_per_min=respiratory_rate,
        sedation_score=sedation,
    )
    rows = list(
        db.scalars(
            charted_vitals().where(m.VitalSign.session_id == session_id).order_by(m.VitalSign.measured_at)
        )
    )
    baseline = infusion.vital_signs(rows[0]) if rows else None
    assessment = infusion.assess_reading(
        signs,
        phase=infusion.phase_now(infusion.pump_records(db, session_id)),
        measured_at=now,
        earlier=rows,
        baseline=baseline,
        symptoms_at=infusion.symptom_onsets(db, session_id),
        flag_missing=False,  # not typed yet is not missing yet; charting it flags what is missing
    )
    record_read(
        db,
        who.actor(),
        "vitals.check",
        "infusion_session",
        session_id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        details={"level": assessment.level.value},
    )
    return VitalsCheck(assessment.level.value, assessment.alerts, assessment.actions, baseline)


def minutes_waiting(request: m.AssistanceRequest, now: datetime) -> int:
    """Whole minutes an open request has waited (0 if charted ahead of the clock)."""
    return max(0, int((now - request.asked_at) / timedelta(minutes=1)))
