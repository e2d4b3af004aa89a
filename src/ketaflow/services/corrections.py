"""Correcting a charted entry: a new row that amends it, with who, when and why; the original stays.

A nurse or psychiatrist corrects a mistyped vital sign (`infusion.correct_vitals`), side effect
(`chairside.correct_side_effect`) or questionnaire answer (`correct_questionnaire`, here); a
psychiatrist corrects a dose order before the pump starts (`seating.correct_dose_order`). Each of
those use cases validates and assesses the corrected values exactly as a new entry of its kind,
then calls the pieces here, which every correction shares:

- `fetch` finds the entry on its infusion or patient (404 otherwise);
- `claim` serializes corrections of one infusion's (or one entry's) facts and refuses (409) an
  entry that has been corrected or otherwise amended since the person opened it: they reload
  and correct the current version, so two corrections never fork one entry;
- `check_reason` insists on the written reason;
- `save` refuses a correction that changes nothing, writes the amendment with
  `store.facts.amend` (the one amendment mechanism) and audits it with every changed value,
  old and new.

Who may correct what is decided in `permissions` (Action.CORRECT_*). `history` lists every
amendment of a patient's vitals, dose orders, side effects and questionnaires for the chart:
who changed which entry, when, why, and each changed value old -> new. A resolved side effect
is an amendment too and is listed with its reason ("resolved").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.orm import Session

import ketaflow.clinical as clinical
from ketaflow.errors import Conflict, InvalidInput, NotFound
from ketaflow.services.audit import record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.permissions import Action, allowed, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write, lock_row
from ketaflow.store.facts import amend, amendments
from ketaflow.store.models.base import ClinicalFact
from ketaflow.vocabulary import Respondent

F = TypeVar("F", bound=ClinicalFact)

REASON_MAX = 500

# The kinds of entry that can be corrected, by table, and what the chart calls each.
KIND_OF: dict[type[ClinicalFact], str] = {
    m.VitalSign: "vital_sign",
    m.DoseOrder: "dose_order",
    m.SideEffect: "side_effect",
    m.QuestionnaireResponse: "questionnaire_response",
}


# ---- the steps every correction takes ------------------------------------------------------------


def fetch(
    db: Session,
    model: type[F],
    row_id: uuid.UUID,
    what: str,
    *,
    session_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
) -> F:
    """The charted entry `row_id`, if it belongs to that infusion (or patient); 404 otherwise."""
    row = db.get(model, row_id)
    if row is None:
        raise NotFound(f"There is no such {what}.")
    if session_id is not None and getattr(row, "session_id", None) != session_id:
        raise NotFound(f"There is no such {what} on this infusion.")
    if patient_id is not None and getattr(row, "patient_id", None) != patient_id:
        raise NotFound(f"There is no such {what} on this patient's chart.")
    return row


def claim(db: Session, row: ClinicalFact, what: str) -> None:
    """Take the lock that serializes amendments of this entry, then refuse it if it is no longer
    the current version (someone corrected, resolved or answered it since it was read).

    Facts of an infusion lock the infusion's row, as resolving a side effect does, so a
    correction and a resolution of the same side effect queue one behind the other; other facts
    lock their own row. On SQLite the write transaction (BEGIN IMMEDIATE) already serializes.
    """
    model = type(row)
    session_id = getattr(row, "session_id", None)
    if session_id is not None:
        lock_row(db, m.InfusionSession, session_id)
    else:
        lock_row(db, model, row.id)
    newer = db.scalars(select(model).where(model.amends_id == row.id)).first()
    if newer is None:
        return
    zone = _zone(db, row.clinic_id)
    by = _names(db, [newer.recorded_by_id]).get(newer.recorded_by_id) or "someone"
    raise Conflict(
        f"This {what} was changed by {by} at {_when(newer.recorded_at, zone)} "
        f"({newer.amendment_reason}) after you opened it; reload the page to see the current version "
        "and correct that one if it is still wrong."
    )


def check_reason(reason: str | None) -> str:
    """The written reason for a correction: required, and kept to a readable length."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput(
            "Write the reason for the correction (for example: typed 182 for 128); "
            "it is kept with the entry.",
            field="reason",
        )
    if len(text) > REASON_MAX:
        raise InvalidInput(
            f"The reason is too long ({len(text)} characters); keep it under {REASON_MAX}.",
            field="reason",
        )
    return text


def save(
    db: Session,
    who: CurrentUser,
    original: F,
    *,
    reason: str,
    patient_id: uuid.UUID,
    changes: dict[str, Any],
    now: datetime,
    bookkeeping: dict[str, Any] | None = None,
) -> F:
    """Write the correction of `original` (an amendment row) and its audit event.

    `changes` are the charted values as corrected; at least one must differ from the entry, or
    the correction is refused. `bookkeeping` (e.g. who now orders the dose) is written with
    them but does not count as a change.
    """
    changed = {k: (getattr(original, k), v) for k, v in changes.items() if getattr(original, k) != v}
    if not changed:
        raise InvalidInput(
            "The corrected values are the same as the charted ones; change what was wrong, "
            "or leave the entry as it is."
        )
    row = amend(
        db, original, reason=reason, by_user_id=who.user.id, recorded_at=now, **changes, **(bookkeeping or {})
    )
    kind = KIND_OF[type(original)]
    record(
        db,
        who.actor(),
        f"{kind}.correct",
        kind,
        row.id,
        clinic_id=original.clinic_id,
        patient_id=patient_id,
        details={
            "amends": str(original.id),
            "reason": reason,
            "changes": {k: [_plain(old), _plain(new)] for k, (old, new) in changed.items()},
        },
    )
    return row


def _plain(value: Any) -> Any:
    """A value as the audit trail's JSON keeps it."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


# ---- one entry, for its correction page --------------------------------------------------------------

_ACTION_FOR: dict[type[ClinicalFact], Action] = {
    m.VitalSign: Action.CORRECT_VITALS,
    m.DoseOrder: Action.CORRECT_DOSE_ORDER,
    m.SideEffect: Action.CORRECT_SIDE_EFFECT,
}


def action_for(row: ClinicalFact) -> Action:
    """The permission that correcting this entry needs."""
    if isinstance(row, m.QuestionnaireResponse):
        return correction_action(row)
    return _ACTION_FOR[type(row)]


@dataclass(frozen=True)
class Entry:
    """A charted entry as its correction page shows it: its values, its history, whether it is the
    current version and whether this reader may correct it."""

    row: Any
    kind: str
    what: str
    patient: m.Patient
    clinic: m.Clinic
    zone: ZoneInfo
    shown: tuple[tuple[str, str], ...]  # (label, value) as charted in this version
    charted_by: str
    history: list[CorrectionLine]  # the corrections that led to this version, newest first
    current_id: uuid.UUID  # the entry's current version (this one unless it was amended since)
    can_correct: bool

    @property
    def is_current(self) -> bool:
        return bool(self.current_id == self.row.id)


def open_entry(
    db: Session,
    who: CurrentUser,
    model: type[F],
    row_id: uuid.UUID,
    what: str,
    *,
    session_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
) -> Entry:
    """The entry for its correction page: the clinical staff may see it and its history; the form
    is offered to those who may correct it (see permissions). The read is audited."""
    row = fetch(db, model, row_id, what, session_id=session_id, patient_id=patient_id)
    require(who, Action.READ_CLINICAL, row.clinic_id)
    owner = getattr(row, "patient_id", None)
    if owner is None:
        session = db.get(m.InfusionSession, getattr(row, "session_id", None))
        owner = session.patient_id if session else None
    patient = db.get(m.Patient, owner)
    clinic = db.get(m.Clinic, row.clinic_id)
    if patient is None or clinic is None:  # pragma: no cover - foreign keys
        raise NotFound(f"There is no such {what}.")
    zone = ZoneInfo(clinic.timezone)
    latest: Any = row
    while (newer := db.scalars(select(model).where(model.amends_id == latest.id)).first()) is not None:
        latest = newer
    series = {}
    if getattr(row, "session_id", None) is not None:
        session = db.get(m.InfusionSession, row.session_id)  # type: ignore[attr-defined]
        if session is not None:
            series[session.id] = session.series_number
    names = _names(db, [row.recorded_by_id])
    entry = Entry(
        row=row,
        kind=KIND_OF[model],
        what=_what(row, zone, series),
        patient=patient,
        clinic=clinic,
        zone=zone,
        shown=tuple((label, show(row, zone)) for label, show in FIELDS[model]),
        charted_by=_author(row, names),
        history=entry_history(db, row, zone),
        current_id=latest.id,
        can_correct=allowed(who, action_for(row), row.clinic_id),
    )
    record_read(
        db,
        who.actor(),
        f"{entry.kind}.read",
        entry.kind,
        row.id,
        clinic_id=row.clinic_id,
        patient_id=patient.id,
    )
    return entry


# ---- questionnaire answers -------------------------------------------------------------------------


@dataclass(frozen=True)
class CorrectedAnswers:
    response: m.QuestionnaireResponse
    scored: clinical.ScaleScore


def correction_action(response: m.QuestionnaireResponse) -> Action:
    """Who may correct a questionnaire depends on who answered it (see permissions)."""
    if response.respondent == Respondent.PATIENT:
        return Action.CORRECT_PATIENT_ANSWERS
    return Action.CORRECT_CLINICIAN_RATING


def correct_questionnaire(
    db: Session,
    who: CurrentUser,
    patient_id: uuid.UUID,
    response_id: uuid.UUID,
    *,
    answers: Sequence[int | None],
    reason: str,
    now: datetime,
) -> CorrectedAnswers:
    """Correct a questionnaire's item answers; scored again as a new answer would be.

    The total is recomputed from the corrected answers; an alert they raise (PHQ-9 item 9 above
    0: a same-day suicide-risk review) is audited as a new answer's is and shows on the chart,
    which derives its alerts from the current answers. The time answered stays as charted.
    """
    begin_write(db)
    original = fetch(db, m.QuestionnaireResponse, response_id, "questionnaire answer", patient_id=patient_id)
    require(who, correction_action(original), original.clinic_id)
    claim(db, original, "questionnaire answer")
    text = check_reason(reason)
    scored = clinical.score(original.instrument.value, list(answers))  # refuses missing or out-of-range
    row = save(
        db,
        who,
        original,
        reason=text,
        patient_id=original.patient_id,
        changes={"answers": list(answers), "total": scored.total},
        now=now,
    )
    for alert in scored.alerts:
        record(
            db,
            who.actor(),
            f"questionnaire.{alert.kind}_alert",
            "questionnaire_response",
            row.id,
            clinic_id=row.clinic_id,
            patient_id=row.patient_id,
            details={
                "instrument": row.instrument.value,
                "item": alert.item,
                "message": alert.message,
                "source": alert.source,
                "corrected": True,
            },
        )
    db.commit()
    return CorrectedAnswers(row, scored)


# ---- history -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class CorrectionLine:
    """One amendment of a charted entry, as the chart lists it."""

    kind: str  # vital_sign, dose_order, side_effect, questionnaire_response
    entry_id: uuid.UUID  # the amending row (the entry's version after this change)
    amends_id: uuid.UUID  # the version it replaced
    session_id: uuid.UUID | None
    what: str  # e.g. "Vital signs of 10:05" or "PHQ-9 of 9 Mar 2027"
    corrected_at: datetime
    corrected_by: str
    reason: str
    changes: tuple[Change, ...]
    charted_at: datetime  # when the replaced version was written, and by whom
    charted_by: str


Show = Callable[[Any, ZoneInfo], str]


def _hm(at: datetime | None, zone: ZoneInfo) -> str:
    return "–" if at is None else at.astimezone(zone).strftime("%H:%M")


def _when(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%d %b %Y %H:%M")


def _n(value: float | int | None, unit: str = "") -> str:
    return "–" if value is None else f"{value:g}{unit}"


def _words(value: object) -> str:
    return "–" if value is None else str(getattr(value, "value", value)).replace("_", " ")


# What the chart shows of each kind of entry, field by field: a change is a field whose text differs.
FIELDS: dict[type[ClinicalFact], tuple[tuple[str, Show], ...]] = {
    m.VitalSign: (
        (
            "BP",
            lambda r, z: "–" if r.systolic_mmhg is None else f"{r.systolic_mmhg}/{r.diastolic_mmhg}",
        ),
        ("Heart rate", lambda r, z: _n(r.heart_rate_bpm, "/min")),
        ("SpO₂", lambda r, z: _n(r.spo2_percent, "%")),
        ("Respiratory rate", lambda r, z: _n(r.respiratory_rate_per_min, "/min")),
    ),
    m.DoseOrder: (
        ("Protocol", lambda r, z: r.protocol_code),
        ("Dose", lambda r, z: f"{r.dose_mg_per_kg:g} mg/kg × {r.dosing_weight_kg:g} kg = {r.dose_mg:g} mg"),
        ("Duration", lambda r, z: _n(r.duration_min, " min")),
        ("Bag", lambda r, z: f"{r.bag_drug_mg:g} mg in {r.bag_volume_ml:g} mL"),
        ("Pump", lambda r, z: f"{r.rate_ml_per_h:g} mL/h, {r.volume_ml:g} mL"),
        ("Limits", lambda r, z: _words(r.limit_status)),
        ("Reason beyond a soft limit", lambda r, z: r.override_reason or "–"),
    ),
    m.SideEffect: (
        ("Side effect", lambda r, z: _words(r.kind)),
        ("Severity", lambda r, z: _words(r.severity)),
        ("Onset", lambda r, z: _hm(r.onset_at, z)),
        ("Resolved", lambda r, z: _hm(r.resolved_at, z) if r.resolved_at else "open"),
        ("Adverse event", lambda r, z: "yes" if r.is_adverse_event else "no"),
        ("Notes", lambda r, z: r.notes or "–"),
    ),
    m.QuestionnaireResponse: (
        ("Answers", lambda r, z: " ".join("–" if a is None else str(a) for a in r.answers)),
        ("Total", lambda r, z: _n(r.total)),
    ),
}


def _what(row: Any, zone: ZoneInfo, series: dict[uuid.UUID, int]) -> str:
    infusion = series.get(getattr(row, "session_id", None) or uuid.UUID(int=0))
    on = f" (infusion {infusion})" if infusion is not None else ""
    if isinstance(row, m.VitalSign):
        return f"Vital signs of {_when(row.measured_at, zone)}{on}"
    if isinstance(row, m.DoseOrder):
        return f"Dose order of {_when(row.ordered_at, zone)}{on}"
    if isinstance(row, m.SideEffect):
        return f"Side effect ({_words(row.kind)}) from {_when(row.onset_at, zone)}{on}"
    assert isinstance(row, m.QuestionnaireResponse)
    name = clinical.describe_instrument(row.instrument.value).name
    return f"{name} answered {_when(row.answered_at, zone)}{on}"


def _names(db: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID | None, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(
        db.execute(select(m.StaffUser.id, m.StaffUser.full_name).where(m.StaffUser.id.in_(wanted)))
        .tuples()
        .all()
    )


def _zone(db: Session, clinic_id: uuid.UUID) -> ZoneInfo:
    clinic = db.get(m.Clinic, clinic_id)
    return ZoneInfo(clinic.timezone if clinic else "UTC")


def _author(row: Any, names: dict[uuid.UUID | None, str]) -> str:
    if row.recorded_by_id is not None:
        return names.get(row.recorded_by_id, "a former member of staff")
    if isinstance(row, m.QuestionnaireResponse) and row.respondent == Respondent.PATIENT:
        return "the patient"
    return "not recorded (e.g. a monitor or an import)"


def _lines(
    db: Session, pairs: list[tuple[Any, Any]], zone: ZoneInfo, series: dict[uuid.UUID, int]
) -> list[CorrectionLine]:
    names = _names(db, [x.recorded_by_id for pair in pairs for x in pair])
    out = []
    for newer, older in pairs:
        fields = FIELDS[type(newer)]
        changes = tuple(
            Change(label, show(older, zone), show(newer, zone))
            for label, show in fields
            if show(older, zone) != show(newer, zone)
        )
        out.append(
            CorrectionLine(
                kind=KIND_OF[type(newer)],
                entry_id=newer.id,
                amends_id=older.id,
                session_id=getattr(newer, "session_id", None),
                what=_what(older, zone, series),
                corrected_at=newer.recorded_at,
                corrected_by=_author(newer, names),
                reason=newer.amendment_reason or "",
                changes=changes,
                charted_at=older.recorded_at,
                charted_by=_author(older, names),
            )
        )
    return sorted(out, key=lambda line: line.corrected_at, reverse=True)


def history(
    db: Session, patient_id: uuid.UUID, zone: ZoneInfo, *, series: dict[uuid.UUID, int] | None = None
) -> list[CorrectionLine]:
    """Every amendment of the patient's vital signs, dose orders, side effects and questionnaires,
    newest first (one query per kind of entry, one for the names). The caller checks that the
    reader may see clinical records and audits the read (the chart does both). `series`: each of
    the patient's infusions' series number by session id, if the caller has read them already
    (the chart has); else they are read here."""
    sessions = series
    if sessions is None:
        sessions = dict(db.execute(_SERIES, {"patient_id": patient_id}).tuples().all())
    values = {"patient_id": patient_id, "session_ids": list(sessions)}
    pairs: list[tuple[Any, Any]] = []
    for statement in _PATIENT_AMENDMENTS:
        pairs += [(a, b) for a, b in db.execute(statement, values).tuples()]
    return _lines(db, pairs, zone, sessions)


# `history`'s statements, built once (the chart reads them on every page; building a statement
# and its cache key cost about as much as running it); the values are bound at each call.
_SERIES = select(m.InfusionSession.id, m.InfusionSession.series_number).where(
    m.InfusionSession.patient_id == bindparam("patient_id")
)
_OF_SESSIONS: BindParameter[Any] = bindparam("session_ids", expanding=True)
_PATIENT_AMENDMENTS = (
    amendments(m.VitalSign).where(m.VitalSign.patient_id == bindparam("patient_id")),
    amendments(m.DoseOrder).where(m.DoseOrder.session_id.in_(_OF_SESSIONS)),
    amendments(m.SideEffect).where(m.SideEffect.session_id.in_(_OF_SESSIONS)),
    amendments(m.QuestionnaireResponse).where(m.QuestionnaireResponse.patient_id == bindparam("patient_id")),
)


def entry_history(db: Session, row: ClinicalFact, zone: ZoneInfo) -> list[CorrectionLine]:
    """The amendments that led to `row` (its earlier versions), newest first."""
    model = type(row)
    pairs: list[tuple[Any, Any]] = []
    newer: Any = row
    while newer.amends_id is not None:
        older = db.get(model, newer.amends_id)
        if older is None:  # pragma: no cover - amends_id is a foreign key
            break
        pairs.append((newer, older))
        newer = older
    session_id = getattr(row, "session_id", None)
    series = {}
    if session_id is not None:
        session = db.get(m.InfusionSession, session_id)
        if session is not None:
            series[session.id] = session.series_number
    return _lines(db, pairs, zone, series)
