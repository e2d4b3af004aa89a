"""Informed consent: given or withdrawn, by kind, against a versioned consent text.

Consents are append-only facts: a withdrawal is a new row with status `withdrawn` (not an
amendment: the consent was validly given and is later withdrawn). The latest row of a kind,
by signing time, is the patient's current position.
"""

from __future__ import annotations

import tomllib
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

from sqlalchemy.orm import Session

from ketaflow.errors import Conflict, NotFound, invalid
from ketaflow.services.audit import record
from ketaflow.services.auth import CurrentUser
from ketaflow.services.consult_records import latest_consultation
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.store.facts import current
from ketaflow.vocabulary import ConsentKind, ConsentStatus


@dataclass(frozen=True)
class ConsentText:
    kind: ConsentKind
    version: str
    title: str
    text: str


@cache
def consent_texts() -> dict[ConsentKind, ConsentText]:
    """The packaged consent texts (a template each clinic must review), by kind."""
    raw = tomllib.loads(
        resources.files("ketaflow.clinical").joinpath("consent_texts.toml").read_text(encoding="utf-8")
    )
    return {
        ConsentKind(k): ConsentText(ConsentKind(k), v["version"], v["title"], v["text"].strip())
        for k, v in raw.items()
    }


def latest_consents(
    db: Session, patient_id: uuid.UUID
) -> tuple[dict[ConsentKind, m.Consent | None], list[m.Consent]]:
    """The latest consent row per kind, and the whole history (newest first)."""
    history = list(
        db.scalars(
            current(m.Consent)
            .where(m.Consent.patient_id == patient_id)
            .order_by(m.Consent.signed_at.desc(), m.Consent.recorded_at.desc())
        )
    )
    latest: dict[ConsentKind, m.Consent | None] = dict.fromkeys(ConsentKind)
    for row in history:
        if latest[row.kind] is None:
            latest[row.kind] = row
    return latest, history


def _kind(text: str) -> ConsentKind:
    try:
        return ConsentKind(text)
    except ValueError:
        known = ", ".join(k.value for k in ConsentKind)
        raise invalid("kind", f"Choose what the consent is for: one of {known}.") from None


def _status(text: str) -> ConsentStatus:
    try:
        return ConsentStatus(text)
    except ValueError:
        raise invalid("status", "Say whether consent is given or withdrawn.") from None


def record_consent(
    db: Session,
    who: CurrentUser,
    patient_id: uuid.UUID,
    *,
    kind: str,
    status: str,
    signed_at: datetime | None,
    text_version: str | None,
    now: datetime,
) -> m.Consent:
    """Chart consent given (against the current text version) or withdrawn, obtained by `who`."""
    begin_write(db)
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, Action.RECORD_CONSENT, patient.clinic_id)
    what = _kind(kind)
    state = _status(status)
    text = consent_texts()[what]
    version = (text_version or "").strip() or text.version
    if state == ConsentStatus.GIVEN and version != text.version:
        raise invalid(
            "text_version",
            f"The consent text in use is version {text.version}; have the patient read and sign that text.",
        )
    if signed_at is None:
        raise invalid("signed_at", "Give the date and time the patient signed (or withdrew).")
    if signed_at.tzinfo is None:
        raise invalid("signed_at", "The signing time needs a time zone.")
    if signed_at > now:
        raise invalid(
            "signed_at", "The signing time is in the future; enter when the patient actually signed."
        )
    if signed_at.date() < patient.date_of_birth:
        raise invalid("signed_at", "The signing time is before the patient's date of birth; check the date.")
    latest, _history = latest_consents(db, patient_id)
    last = latest[what]
    label = what.value.replace("_", " ")
    if state == ConsentStatus.WITHDRAWN and (last is None or last.status != ConsentStatus.GIVEN):
        raise Conflict(f"There is no {label} consent in force to withdraw.")
    if last is not None and signed_at < last.signed_at:
        raise invalid(
            "signed_at", "The signing time is before the consent already on file; enter the time it happened."
        )
    if (
        state == ConsentStatus.GIVEN
        and last is not None
        and last.status == ConsentStatus.GIVEN
        and last.text_version == version
    ):
        raise Conflict(f"The patient's {label} consent to this text is already on file.")
    consultation = latest_consultation(db, patient_id)
    row = m.Consent(
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        consultation_id=consultation.id if consultation else None,
        kind=what,
        status=state,
        text_version=version if state == ConsentStatus.GIVEN else (last.text_version if last else version),
        signed_at=signed_at,
        obtained_by_id=who.user.id,
        recorded_by_id=who.user.id,
        # recorded_at: the real time of charting (orders same-minute entries; held_at/signed_at
        # are the clinical times).
    )
    db.add(row)
    db.flush()
    record(
        db,
        who.actor(),
        f"consent.{state.value}",
        "consent",
        row.id,
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        details={"kind": what.value, "text_version": row.text_version},
    )
    db.commit()
    return row
