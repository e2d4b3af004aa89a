"""Where a patient's messages go: a confirmed address, and the kinds they turned off (issue 17).

Messages go only to a confirmed address. Staff ask for a confirmation (`request_confirmation`):
an e-mail with a one-time link goes to the address on the patient's record, and opening the
link and pressing the button confirms it (`confirm`). The link's token is made when the e-mail
is sent (services/outbox.py) and only its digest is kept. A changed address on the record is
unconfirmed again (outbox.reachable compares them). A patient turns kinds of message off and on
on their own page (`set_opt_outs`). Every change is audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ketaflow.errors import InvalidInput, NotFound
from ketaflow.messaging import templates
from ketaflow.security import token_digest
from ketaflow.services import outbox
from ketaflow.services.audit import NOWHERE, Origin, record
from ketaflow.services.auth import CurrentUser
from ketaflow.services.patient_access import CurrentPatient, patient_actor
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write

CONFIRM_EXPIRED = (
    "This confirmation link has expired. If you want messages from the clinic, ask the clinic to send "
    "a new one."
)
CONFIRM_NOT_VALID = (
    "This confirmation link is not valid or was already used. If you want messages from the clinic, "
    "ask the clinic to send a new one."
)


def optional_kinds() -> dict[str, str]:
    """The kinds a patient may turn off, with the words the page shows for each."""
    names = {
        "booking_confirmation": "Confirmation of each booking",
        "visit_reminder": "A reminder the day before each visit",
        "driver_reminder": "A reminder to name who is driving you home",
        "questionnaire_reminder": "Reminders of questionnaires between visits",
        "aftercare": "After-care advice the evening after a visit",
    }
    kinds = templates.kinds()
    return {
        k: names.get(k, k.replace("_", " "))
        for k, v in kinds.items()
        if v.audience == "patient" and v.opt_out
    }


def settings_of(db: Session, patient_id: uuid.UUID) -> m.PatientMessageSettings | None:
    return db.scalar(
        select(m.PatientMessageSettings).where(m.PatientMessageSettings.patient_id == patient_id)
    )


@dataclass(frozen=True)
class AddressState:
    email: str | None  # the address on the record
    confirmed: bool
    waiting: bool  # a confirmation was asked for and not yet given


def address_state(db: Session, patient: m.Patient) -> AddressState:
    """For the staff page that shows the patient's links (whose read is audited there)."""
    prefs = settings_of(db, patient.id)
    confirmed = bool(prefs and prefs.confirmed_at and prefs.email == patient.email)
    waiting = bool(prefs and prefs.confirmed_at is None and prefs.email)
    return AddressState(patient.email, confirmed, waiting)


def request_confirmation(db: Session, who: CurrentUser, patient_id: uuid.UUID, now: datetime) -> str:
    """Send the patient a link that confirms the address on their record; returns that address."""
    begin_write(db)
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, Action.ISSUE_PATIENT_LINK, patient.clinic_id)
    email = (patient.email or "").strip()
    if not email:
        raise InvalidInput("The patient has no e-mail address on their record; add one first.")
    prefs = settings_of(db, patient.id)
    if prefs is None:
        prefs = m.PatientMessageSettings(clinic_id=patient.clinic_id, patient_id=patient.id, opted_out=[])
        db.add(prefs)
    prefs.email, prefs.confirmed_at, prefs.updated_at = email, None, now
    prefs.confirm_token_sha256, prefs.confirm_expires_at = None, None
    db.flush()
    outbox.enqueue(
        db,
        clinic_id=patient.clinic_id,
        kind="address_confirmation",
        due_at=now,
        patient_id=patient.id,
        caused_by_id=who.user.id,
    )
    record(
        db,
        who.actor(),
        "message_address.request",
        "patient_message_settings",
        prefs.id,
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
    )
    db.commit()
    return email


def check_confirmation(db: Session, token: str, now: datetime) -> m.PatientMessageSettings:
    """The settings a confirmation link is for, if it is still valid at `now` (nothing changes: a
    mail scanner may fetch it). A link works once and until it expires."""
    prefs = db.scalar(
        select(m.PatientMessageSettings).where(
            m.PatientMessageSettings.confirm_token_sha256 == token_digest(token or "")
        )
    )
    if prefs is None:
        raise InvalidInput(CONFIRM_NOT_VALID)
    if prefs.confirm_expires_at is None or prefs.confirm_expires_at <= now:
        raise InvalidInput(CONFIRM_EXPIRED)
    return prefs


def confirm(db: Session, token: str, now: datetime, *, origin: Origin = NOWHERE) -> str:
    """Confirm the address the link was sent to (once); returns it."""
    begin_write(db)
    prefs = check_confirmation(db, token, now)
    done = db.execute(
        update(m.PatientMessageSettings)
        .where(
            m.PatientMessageSettings.id == prefs.id,
            m.PatientMessageSettings.confirm_token_sha256 == token_digest(token),
            m.PatientMessageSettings.confirm_expires_at > now,
        )
        .values(
            confirmed_at=now,
            confirm_token_sha256=None,
            confirm_expires_at=None,
            updated_at=now,
            version=m.PatientMessageSettings.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        db.rollback()
        raise InvalidInput(CONFIRM_NOT_VALID)
    record(
        db,
        patient_actor(origin),
        "message_address.confirm",
        "patient_message_settings",
        prefs.id,
        clinic_id=prefs.clinic_id,
        patient_id=prefs.patient_id,
    )
    db.commit()
    return prefs.email or ""


@dataclass(frozen=True)
class MessageChoices:
    email: str | None
    confirmed: bool
    kinds: dict[str, str]  # kind -> what the page calls it
    opted_out: frozenset[str]


def choices(db: Session, me: CurrentPatient) -> MessageChoices:
    prefs = settings_of(db, me.patient.id)
    confirmed = bool(prefs and prefs.confirmed_at and prefs.email == me.patient.email)
    return MessageChoices(
        prefs.email if prefs else None,
        confirmed,
        optional_kinds(),
        frozenset(prefs.opted_out or []) if prefs else frozenset(),
    )


def set_opt_outs(db: Session, me: CurrentPatient, opted_out: set[str], now: datetime) -> MessageChoices:
    """The patient's own choice of the kinds they do not want (the others they get)."""
    allowed = optional_kinds()
    unknown = sorted(opted_out - set(allowed))
    if unknown:
        raise InvalidInput(f"There is no kind of message called {', '.join(unknown)}.")
    begin_write(db)
    prefs = settings_of(db, me.patient.id)
    if prefs is None:
        prefs = m.PatientMessageSettings(
            clinic_id=me.patient.clinic_id, patient_id=me.patient.id, email=None, opted_out=[]
        )
        db.add(prefs)
    before = sorted(prefs.opted_out or [])
    prefs.opted_out = sorted(opted_out)
    prefs.updated_at = now
    db.flush()
    record(
        db,
        me.actor(),
        "message_settings.update",
        "patient_message_settings",
        prefs.id,
        clinic_id=me.clinic.id,
        patient_id=me.patient.id,
        details={"opted_out_before": before, "opted_out": sorted(opted_out)},
    )
    db.commit()
    return choices(db, me)
