"""Charting what bedside monitors send (issue 16): one HL7 v2 ORU^R01 in, its ACK out.

`receive` is the use case the MLLP listener calls for each message, in one transaction: read the
message (interop/hl7/oru.py), find the monitor (services/monitors.py), the infusion open in its
chair at the observation time and its patient, check the values as a typed reading is checked,
and chart each set of readings through `infusion.chart_reading` with source = monitor at the
observation time, classified by the same rules as a typed reading. A message charted is receipted
by (sender, control id), so the same message sent again is acknowledged (AA) and not charted
twice. A message that cannot be charted gets its AE or AR with the reason, and is kept as a dead
letter that an administrator can see (`dead_letters`) and replay (`replay`) once the cause is
fixed (a monitor registered, say); nothing of it is charted (no half-written record).

ACK codes: AR for what ketaflow does not take (not an ORU^R01, an unsupported version, no control
id, a monitor not registered); AE for content that cannot be charted (no infusion in that chair,
an unknown or different patient, a value that is not a number or not plausible, a time in the
future).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import ketaflow.clinical as clinical
from ketaflow.clinical.vitals import check_plausible, checked_bp
from ketaflow.errors import InvalidFields, InvalidInput, NotFound
from ketaflow.interop.hl7 import oru
from ketaflow.interop.hl7.ack import build_ack
from ketaflow.interop.hl7.oru import Header, Refusal, read_header, read_oru
from ketaflow.services.audit import Actor, record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.infusion import assess_charted, chart_reading
from ketaflow.services.monitors import find_monitor, seated_session
from ketaflow.services.permissions import Action, allowed, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.vocabulary import VitalSource

log = logging.getLogger(__name__)

# A monitor's clock may run a little ahead of ketaflow's; beyond this a reading "from the future"
# is refused (a clock set wrong would chart readings at the wrong time). Clinic policy.
CLOCK_SKEW = timedelta(minutes=2)
MESSAGE_MAX_CHARS = 1_000_000
# The form field a plausibility problem is tagged with -> the reading's parameter (its OBX).
_FIELD_PARAMETER = {"heart_rate": "heart_rate", "spo2": "spo2", "respiratory_rate": "respiratory_rate"}


@dataclass(frozen=True)
class Outcome:
    """What became of one message, and the ACK that says so (None: not HL7, nothing to answer)."""

    ack_code: str
    header: Header | None
    reason: str = ""
    where: str = ""
    error_code: str = ""
    charted: int = 0  # vital-sign rows charted
    duplicate: bool = False
    levels: tuple[str, ...] = ()  # each charted reading's alert level
    dead_letter_id: uuid.UUID | None = None
    charted_ids: tuple[uuid.UUID, ...] = field(default=())

    def ack(self, at: datetime) -> str | None:
        if self.header is None:
            return None
        return build_ack(
            self.header,
            self.ack_code,
            at=at,
            reason=self.reason,
            where=self.where,
            error_code=self.error_code,
        )


class _Undeliverable(Exception):
    def __init__(self, refusal: Refusal, clinic_id: uuid.UUID | None) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal
        self.clinic_id = clinic_id


def receive(db: Session, text: str, *, peer: str, now: datetime) -> Outcome:
    """Chart one message from a monitor (or refuse it, and keep it as a dead letter); commit."""
    try:
        header = read_header(text)
    except Refusal as refusal:  # not HL7 at all: nothing to acknowledge, nothing worth keeping
        return Outcome("AR", None, refusal.reason, refusal.where, refusal.error_code)
    try:
        outcome = _chart(db, text[:MESSAGE_MAX_CHARS], header, peer=peer, now=now)
        db.commit()
        return outcome
    except _Undeliverable as exc:
        db.rollback()
        letter = _dead_letter(db, text, header, exc.refusal, exc.clinic_id, peer=peer, now=now)
        r = exc.refusal
        return Outcome(r.ack_code, header, r.reason, r.where, r.error_code, dead_letter_id=letter)
    except IntegrityError:  # the same message charted by another connection at the same moment
        db.rollback()
        if _receipted(db, header):
            return _duplicate(header)
        raise


def _receipted(db: Session, header: Header) -> bool:
    return (
        db.scalar(
            select(m.Hl7Receipt.id).where(
                m.Hl7Receipt.sender == header.sender, m.Hl7Receipt.control_id == header.control_id
            )
        )
        is not None
    )


def _duplicate(header: Header) -> Outcome:
    return Outcome("AA", header, "Already charted: this message was received before.", duplicate=True)


def _chart(db: Session, text: str, header: Header, *, peer: str, now: datetime) -> Outcome:
    """Chart the message in the open transaction (the caller commits), or raise _Undeliverable."""
    try:
        message = read_oru(text)
    except Refusal as refusal:  # filed under the monitor's clinic when the monitor is known
        known = find_monitor(db, refusal.device_ids, refusal.location, header.sending_application)
        raise _Undeliverable(refusal, known.clinic_id if known else None) from None
    begin_write(db)
    if _receipted(db, header):
        return _duplicate(header)
    monitor = find_monitor(db, message.device_ids, message.location, header.sending_application)
    if monitor is None:
        named = [f"device id {d}" for d in message.device_ids]
        named += [f"location {message.location}"] if message.location else []
        named += [f"sender {header.sending_application}"] if header.sending_application else []
        raise _Undeliverable(
            Refusal(
                "AR",
                f"No monitor is registered with {' or '.join(named) or 'any identifier sent'}; an "
                "administrator registers it (ketaflow hl7 monitors add), then replays this message.",
                where="OBX^1^18" if message.device_ids else ("PV1^1^3" if message.location else "MSH^1^3"),
                error_code=oru.UNKNOWN_KEY,
            ),
            None,
        )
    try:
        return _chart_readings(db, message, monitor, peer=peer, now=now)
    except Refusal as refusal:
        raise _Undeliverable(refusal, monitor.clinic_id) from None


def _chart_readings(
    db: Session, message: oru.MonitorMessage, monitor: m.Monitor, *, peer: str, now: datetime
) -> Outcome:
    clinic = db.get(m.Clinic, monitor.clinic_id)
    chair = db.get(m.Chair, monitor.chair_id)
    assert clinic is not None and chair is not None  # foreign keys
    zone = ZoneInfo(clinic.timezone)
    header = message.header
    actor = Actor(None, f"monitor:{monitor.label}"[:120], peer or None, f"hl7:{header.sender}"[:255])
    charted: list[m.VitalSign] = []
    levels: list[str] = []
    checked_patient: set[uuid.UUID] = set()
    for reading in message.readings:
        at = reading.observed_at.to_utc(zone)
        where_time = next(iter(reading.where.values()), "OBX").rsplit("^", 1)[0] + "^14"
        if at > now + CLOCK_SKEW:
            raise Refusal(
                "AE",
                f"The observation time {at.astimezone(zone):%Y-%m-%d %H:%M} is in the future; "
                "check the monitor's clock.",
                where=where_time,
            )
        signs = _checked_signs(reading)
        session = seated_session(db, monitor.chair_id, at)
        if session is None:
            raise Refusal(
                "AE",
                f"No infusion is open in {chair.label} at {clinic.name} at "
                f"{at.astimezone(zone):%Y-%m-%d %H:%M}; seat the patient first, then replay this message.",
                where=where_time,
            )
        if session.patient_id not in checked_patient:
            _check_patient(db, session, message.patient_ids, chair.label)
            checked_patient.add(session.patient_id)
        row = chart_reading(
            db,
            session,
            signs,
            measured_at=at,
            source=VitalSource.MONITOR,
            recorded_by_id=None,
            recorded_at=now,
            monitor_id=monitor.id,
            message_control_id=header.control_id,
        )
        assessed = assess_charted(db, row)
        charted.append(row)
        levels.append(assessed.level)
        record(
            db,
            actor,
            "vitals.create",
            "infusion_session",
            session.id,
            clinic_id=session.clinic_id,
            patient_id=session.patient_id,
            details={
                "level": assessed.level,
                "source": "monitor",
                "monitor_id": str(monitor.id),
                "control_id": header.control_id,
            },
        )
    db.add(
        m.Hl7Receipt(
            clinic_id=monitor.clinic_id,
            sender=header.sender[:200],
            control_id=header.control_id[:199],
            monitor_id=monitor.id,
            received_at=now,
            readings=len(charted),
        )
    )
    db.flush()  # a duplicate racing this one fails here, before the commit
    return Outcome(
        "AA", header, charted=len(charted), levels=tuple(levels), charted_ids=tuple(r.id for r in charted)
    )


def _whole(value: float | None) -> int | None:
    """A monitor's value as charted: to the nearest whole unit (the chart's columns), halves up."""
    return None if value is None else int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def _checked_signs(reading: oru.ReadingSet) -> clinical.VitalSigns:
    """The readings as a set of vital signs, checked as a typed set is (`checked_vitals`)."""
    v = reading.values
    try:
        bp = None
        if "systolic" in v and "diastolic" in v:
            bp = checked_bp(_whole(v["systolic"]) or 0, _whole(v["diastolic"]) or 0)
        signs = clinical.VitalSigns(
            bp=bp,
            heart_rate_per_min=_whole(v.get("heart_rate")),
            spo2_percent=_whole(v.get("spo2")),
            respiratory_rate_per_min=_whole(v.get("respiratory_rate")),
        )
        check_plausible(signs)
    except InvalidFields as exc:
        first = next(iter(exc.problems), None)
        where = reading.where.get(_FIELD_PARAMETER.get(first or "", ""), "OBX")
        raise Refusal("AE", exc.message, where=where, error_code=oru.DATA_TYPE_ERROR) from None
    except InvalidInput as exc:
        raise Refusal(
            "AE", exc.message, where=reading.where.get("systolic", "OBX"), error_code=oru.DATA_TYPE_ERROR
        ) from None
    return signs


def _check_patient(db: Session, session: m.InfusionSession, patient_ids: tuple[str, ...], chair: str) -> None:
    """If the message names the patient (PID-3), it must be the patient in the chair."""
    if not patient_ids:
        return
    patient = db.get(m.Patient, session.patient_id)
    assert patient is not None
    if patient.mrn in patient_ids:
        return
    known = db.scalar(
        select(m.Patient.id).where(
            m.Patient.organization_id == patient.organization_id, m.Patient.mrn.in_(patient_ids)
        )
    )
    if known is None:
        raise Refusal(
            "AE",
            f"The message names patient {', '.join(patient_ids)}, whom ketaflow does not know; check the "
            "patient entered on the monitor.",
            where="PID^1^3",
            error_code=oru.UNKNOWN_KEY,
        )
    raise Refusal(
        "AE",
        f"The message names patient {', '.join(patient_ids)}, but another patient is in {chair}; check the "
        "patient entered on the monitor.",
        where="PID^1^3",
        error_code=oru.UNKNOWN_KEY,
    )


def _dead_letter(
    db: Session,
    text: str,
    header: Header,
    refusal: Refusal,
    clinic_id: uuid.UUID | None,
    *,
    peer: str,
    now: datetime,
) -> uuid.UUID:
    """Keep the message that could not be charted (the same message again: one letter, one more attempt)."""
    begin_write(db)
    letter = db.scalar(
        select(m.Hl7DeadLetter).where(
            m.Hl7DeadLetter.sender == header.sender[:200],
            m.Hl7DeadLetter.control_id == header.control_id[:199],
            m.Hl7DeadLetter.resolved_at.is_(None),
        )
    )
    if letter is None:
        letter = m.Hl7DeadLetter(
            clinic_id=clinic_id,
            received_at=now,
            peer=peer[:100],
            sender=header.sender[:200],
            control_id=header.control_id[:199],
            ack_code=refusal.ack_code,
            reason=refusal.reason,
            location_in_message=refusal.where[:40],
            message=text[:MESSAGE_MAX_CHARS],
            attempts=1,
        )
        db.add(letter)
    else:
        letter.attempts += 1
        letter.ack_code = refusal.ack_code
        letter.reason = refusal.reason
        letter.location_in_message = refusal.where[:40]
        letter.clinic_id = clinic_id or letter.clinic_id
    db.flush()
    letter_id = letter.id
    db.commit()
    return letter_id


# ---- the administrator's view -------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetterRow:
    id: uuid.UUID
    clinic_id: uuid.UUID | None
    received_at: datetime
    peer: str
    sender: str
    control_id: str
    ack_code: str
    reason: str
    where: str
    attempts: int
    resolved_at: datetime | None
    resolution: str | None
    message: str


def _visible_clinics(who: CurrentUser) -> set[uuid.UUID]:
    return {uuid.UUID(c) for c in who.roles if allowed(who, Action.MANAGE_MONITORS, uuid.UUID(c))}


def dead_letters(
    db: Session, who: CurrentUser, *, include_resolved: bool = False, limit: int = 200
) -> list[DeadLetterRow]:
    """The messages that could not be charted, newest first: those of the clinics where `who` is an
    administrator, and those of no known clinic (an unknown monitor). The read is audited."""
    clinics = _visible_clinics(who)
    if not clinics:
        raise NotFound("Only an administrator sees the monitor messages that could not be charted.")
    query = select(m.Hl7DeadLetter).where(
        m.Hl7DeadLetter.clinic_id.in_(clinics) | m.Hl7DeadLetter.clinic_id.is_(None)
    )
    if not include_resolved:
        query = query.where(m.Hl7DeadLetter.resolved_at.is_(None))
    rows = db.scalars(query.order_by(m.Hl7DeadLetter.received_at.desc()).limit(limit)).all()
    found = [
        DeadLetterRow(
            r.id,
            r.clinic_id,
            r.received_at,
            r.peer,
            r.sender,
            r.control_id,
            r.ack_code,
            r.reason,
            r.location_in_message,
            r.attempts,
            r.resolved_at,
            r.resolution,
            r.message,
        )
        for r in rows
    ]
    record_read(db, who.actor(), "dead_letter.list", "hl7_dead_letter", details={"shown": len(found)})
    return found


def replay(db: Session, who: CurrentUser, letter_id: uuid.UUID, *, now: datetime) -> Outcome:
    """Run a dead letter through the monitor feed again, as the administrator `who`: charted (or
    found charted already), it is resolved; refused again, it stays, with the new reason."""
    letter = db.get(m.Hl7DeadLetter, letter_id)
    if letter is None or (letter.clinic_id is not None and letter.clinic_id not in _visible_clinics(who)):
        raise NotFound("There is no such monitor message among those you can see.")
    if letter.clinic_id is not None:
        require(who, Action.MANAGE_MONITORS, letter.clinic_id)
    elif not _visible_clinics(who):
        raise NotFound("There is no such monitor message among those you can see.")
    if letter.resolved_at is not None:
        raise InvalidInput(f"This message was already resolved ({letter.resolution}); nothing to replay.")
    header = read_header(letter.message)
    text, peer = letter.message, letter.peer
    try:
        outcome = _chart(db, text, header, peer=peer, now=now)
    except _Undeliverable as exc:
        db.rollback()
        _dead_letter(db, text, header, exc.refusal, exc.clinic_id, peer=peer, now=now)
        r = exc.refusal
        return Outcome(r.ack_code, header, r.reason, r.where, r.error_code, dead_letter_id=letter_id)
    letter = db.get(m.Hl7DeadLetter, letter_id)
    assert letter is not None
    letter.resolved_at = now
    letter.resolved_by = who.user.email[:200]
    letter.resolution = (
        "already charted" if outcome.duplicate else f"charted on replay ({outcome.charted} readings)"
    )
    record(
        db,
        who.actor(),
        "dead_letter.replay",
        "hl7_dead_letter",
        letter_id,
        clinic_id=letter.clinic_id,
        details={"control_id": letter.control_id, "charted": outcome.charted},
    )
    db.commit()
    return outcome
