"""The durable outbox of the clinic's HL7 messages (issue 16): a message is written in the same
transaction as the change it reports, and kept until its destination acknowledges it.

`enqueue` adds a message; `due` gives, per patient, the first message not yet acknowledged if its
next attempt is due (a patient's later messages wait behind it: in order per patient);
`delivered`, `refused` and `failed` record what the destination answered (or that it could not be
reached: retried with back-off, doubling from `FIRST_RETRY` up to `MAX_RETRY`). Nothing is ever
deleted; a destination that is down loses nothing, and neither does a restart (the rows are the
queue). The sender is `workers/hl7_sender.py` (`ketaflow hl7 send`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.errors import NotFound
from ketaflow.interop.hl7.ack import escape
from ketaflow.interop.hl7.outbound import PatientIdentity, adt, ras
from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.permissions import Action, allowed
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=2)
MAX_RETRY = timedelta(minutes=5)
KINDS = ("ADT^A04", "ADT^A08", "ADT^A03", "RAS^O17")


@dataclass(frozen=True)
class Pending:
    id: uuid.UUID
    patient_id: uuid.UUID
    kind: str
    control_id: str
    message: str
    attempts: int


def new_control_id() -> str:
    """A control id (MSH-10) unique to this message: 20 hex digits (ST, at most 20 in v2.5)."""
    return uuid.uuid4().hex[:20].upper()


def enqueue(
    db: Session,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    kind: str,
    control_id: str,
    message: str,
    now: datetime,
) -> m.Hl7Outbox:
    """Add a message to the outbox in the caller's transaction (the caller commits)."""
    if kind not in KINDS:
        raise ValueError(f"the outbox sends {', '.join(KINDS)}, not {kind}")
    position = sum(1 for o in db.new if isinstance(o, m.Hl7Outbox) and o.patient_id == patient_id)
    row = m.Hl7Outbox(
        clinic_id=clinic_id,
        patient_id=patient_id,
        kind=kind,
        control_id=control_id,
        message=message,
        enqueued_at=now,
        position=position,
        attempts=0,
        next_attempt_at=now,
    )
    db.add(row)
    return row


def due(db: Session, now: datetime, *, limit: int = 100) -> list[Pending]:
    """Each patient's first unacknowledged message whose next attempt is due, oldest first."""
    rows = db.scalars(
        select(m.Hl7Outbox)
        .where(m.Hl7Outbox.acked_at.is_(None))
        .order_by(m.Hl7Outbox.enqueued_at, m.Hl7Outbox.position)
    ).all()
    first: dict[uuid.UUID, m.Hl7Outbox] = {}
    for row in rows:
        first.setdefault(row.patient_id, row)
    ready = [r for r in first.values() if r.next_attempt_at is None or r.next_attempt_at <= now]
    return [Pending(r.id, r.patient_id, r.kind, r.control_id, r.message, r.attempts) for r in ready[:limit]]


def _answer(db: Session, row_id: uuid.UUID) -> m.Hl7Outbox:
    begin_write(db)
    row = db.get(m.Hl7Outbox, row_id)
    assert row is not None
    return row


def delivered(db: Session, row_id: uuid.UUID, ack_code: str, now: datetime) -> None:
    row = _answer(db, row_id)
    row.attempts += 1
    row.acked_at, row.ack_code, row.last_error = now, ack_code, None
    db.commit()


def refused(db: Session, row_id: uuid.UUID, ack_code: str, reason: str, now: datetime) -> None:
    """The destination answered AE/AR: kept, with the reason, for the administrator; the patient's
    later messages go on (sending the same message again would be refused again)."""
    row = _answer(db, row_id)
    row.attempts += 1
    row.acked_at, row.ack_code, row.refused, row.last_error = now, ack_code, True, reason[:2000]
    db.commit()


def failed(db: Session, row_id: uuid.UUID, error: str, now: datetime) -> None:
    """Not delivered (no connection, no answer): tried again after the back-off."""
    row = _answer(db, row_id)
    row.attempts += 1
    wait = min(FIRST_RETRY * (2 ** (row.attempts - 1)), MAX_RETRY)
    row.next_attempt_at, row.last_error = now + wait, error[:2000]
    db.commit()


# ---- what the use cases report ----------------------------------------------------------------


def sending() -> bool:
    """Whether this installation sends HL7 messages (KETAFLOW_HL7_DESTINATION is set)."""
    from ketaflow.settings import get_settings

    return bool(get_settings().hl7_destination)


def _identity(patient: m.Patient) -> PatientIdentity:
    return PatientIdentity(
        escape(patient.mrn),
        escape(patient.family_name),
        escape(patient.given_name),
        patient.date_of_birth,
        str(patient.sex.value if hasattr(patient.sex, "value") else patient.sex),
    )


def _safely(kind: str, patient: m.Patient, build: Callable[[str], str], db: Session, now: datetime) -> None:
    """Build and enqueue one message; a message that cannot be built is logged, never blocks the
    clinical action that reports it."""
    control = new_control_id()
    try:
        text = build(control)
    except Exception:  # hl7apy refuses a value: the registration or discharge still goes through
        log.exception("HL7 out: could not build %s for patient %s; nothing queued", kind, patient.id)
        return
    enqueue(
        db,
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        kind=kind,
        control_id=control,
        message=text,
        now=now,
    )


def report_registration(db: Session, patient: m.Patient, clinic: m.Clinic, now: datetime) -> None:
    """ADT^A04 for a patient just registered (in the registration's transaction)."""
    if not sending():
        return
    who = _identity(patient)
    _safely(
        "ADT^A04",
        patient,
        lambda c: adt("A04", who, at=now, control_id=c, facility=escape(clinic.code)),
        db,
        now,
    )


def report_update(db: Session, patient: m.Patient, clinic: m.Clinic, now: datetime) -> None:
    """ADT^A08 (patient information updated) for a patient whose registration details were just
    changed (in the change's transaction)."""
    if not sending():
        return
    who = _identity(patient)
    _safely(
        "ADT^A08",
        patient,
        lambda c: adt("A08", who, at=now, control_id=c, facility=escape(clinic.code)),
        db,
        now,
    )


def report_discharge(db: Session, session: m.InfusionSession, now: datetime) -> None:
    """RAS^O17 for the ketamine the pump gave, then ADT^A03, for a patient just discharged (in the
    discharge's transaction)."""
    if not sending():
        return
    from ketaflow.services.infusion import current_order, pump_records

    patient = db.get(m.Patient, session.patient_id)
    clinic = db.get(m.Clinic, session.clinic_id)
    assert patient is not None and clinic is not None
    who, facility = _identity(patient), escape(clinic.code)
    events = pump_records(db, session.id)
    order = current_order(db, session.id)
    if events and order is not None:
        _safely(
            "RAS^O17",
            patient,
            lambda c: ras(
                who,
                at=now,
                control_id=c,
                facility=facility,
                order_id=str(order.id).replace("-", "")[:20].upper(),
                started_at=events[0].at,
                ended_at=events[-1].at,
                given_mg=round(events[-1].cumulative_mg, 3),
            ),
            db,
            now,
        )
    _safely(
        "ADT^A03",
        patient,
        lambda c: adt("A03", who, at=now, control_id=c, facility=facility, discharged_at=now),
        db,
        now,
    )


# ---- the administrator's view ------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxRow:
    id: uuid.UUID
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    kind: str
    control_id: str
    enqueued_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    acked_at: datetime | None
    ack_code: str | None
    refused: bool
    last_error: str | None


def outbox_view(
    db: Session, who: CurrentUser, *, include_done: bool = False, limit: int = 200
) -> list[OutboxRow]:
    """The messages of the clinics where `who` is an administrator: waiting (and, with `include_done`,
    delivered or refused), oldest first. The read is audited."""
    clinics = [uuid.UUID(c) for c in who.roles if allowed(who, Action.MANAGE_MONITORS, uuid.UUID(c))]
    if not clinics:
        raise NotFound("Only an administrator sees the clinic's outgoing HL7 messages.")
    query = select(m.Hl7Outbox).where(m.Hl7Outbox.clinic_id.in_(clinics))
    if not include_done:
        query = query.where(m.Hl7Outbox.acked_at.is_(None))
    rows = db.scalars(query.order_by(m.Hl7Outbox.enqueued_at, m.Hl7Outbox.position).limit(limit)).all()
    found = [
        OutboxRow(
            r.id,
            r.clinic_id,
            r.patient_id,
            r.kind,
            r.control_id,
            r.enqueued_at,
            r.attempts,
            r.next_attempt_at,
            r.acked_at,
            r.ack_code,
            r.refused,
            r.last_error,
        )
        for r in rows
    ]
    record_read(db, who.actor(), "hl7_outbox.list", "hl7_outbox", details={"shown": len(found)})
    return found
