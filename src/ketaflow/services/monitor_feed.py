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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import ketaflow.clinical as clinical
from ketaflow.clinical.vitals import check_plausible, checked_bp
from ketaflow.errors import InvalidFields, InvalidInput, NotFound
from ketaflow.interop.hl7 import oru
from ketaflow.interop.hl7.ack import build_ack
from ketaflow.interop.hl7.oru import Header, Refusal, read_header, read_oru
from ketaflow.services.audit import Actor, event_values, record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.infusion import assess_latest, vital_sign_row
from ketaflow.services.monitor_context import ContextCache, InfusionContext, OpenInfusion, charted_reading
from ketaflow.services.monitors import SESSION_LOOKBACK, pick_monitor
from ketaflow.services.permissions import Action, allowed, require
from ketaflow.store import models as m
from ketaflow.store.chain import chained_tables, link
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
    clinics: frozenset[uuid.UUID] = field(default=frozenset())  # where it was charted

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


@dataclass
class _Entry:
    """One message of a batch, read; `message` None when it could not be read (`refused` says why)."""

    text: str
    peer: str
    header: Header
    message: oru.MonitorMessage | None
    refused: Refusal | None = None


def receive(db: Session, text: str, *, peer: str, now: datetime) -> Outcome:
    """Chart one message from a monitor (or refuse it, and keep it as a dead letter); commit."""
    return receive_batch(db, [(text, peer)], now=now)[0]


def receive_batch(
    db: Session, messages: Sequence[tuple[str, str]], *, now: datetime, cache: ContextCache | None = None
) -> list[Outcome]:
    """Chart several messages (text, peer) in one transaction, in the order given, and commit once
    (group commit: the listener's messages received while the previous batch was committing).
    Each gets the outcome it would get alone; none is acknowledged before this returns, that is
    before its readings (or its dead letter) are committed. `cache`: the infusion contexts kept
    between batches (services/monitor_context.py); without it, each batch reads them afresh."""
    outcomes: list[Outcome | None] = [None] * len(messages)
    entries: list[tuple[int, _Entry]] = []
    for i, (text, peer) in enumerate(messages):
        try:
            header = read_header(text)
        except Refusal as refusal:  # not HL7 at all: nothing to acknowledge, nothing worth keeping
            outcomes[i] = Outcome("AR", None, refusal.reason, refusal.where, refusal.error_code)
            continue
        text = text[:MESSAGE_MAX_CHARS]
        try:
            entries.append((i, _Entry(text, peer, header, read_oru(text))))
        except Refusal as refusal:
            entries.append((i, _Entry(text, peer, header, None, refusal)))
    if not entries:
        return [o for o in outcomes if o is not None]
    cache = cache or ContextCache()
    try:
        charted = _chart_all(db, [e for _, e in entries], now=now, cache=cache)
        letters = [
            (i, e, r) for (i, e), r in zip(entries, charted, strict=True) if isinstance(r, _Undeliverable)
        ]
        letter_ids = [
            _keep_letter(db, e.text, e.header, r.refusal, r.clinic_id, peer=e.peer, now=now)
            for _, e, r in letters
        ]
        db.flush()  # a duplicate racing one of these fails here, before the commit
        cache.committing(_charted_per_clinic(charted))
        db.commit()
    except IntegrityError:  # the same message charted by another connection at the same moment
        db.rollback()
        cache.clear()
        if len(entries) == 1:
            i, entry = entries[0]
            if _receipted(db, entry.header):
                db.rollback()
                outcomes[i] = _duplicate(entry.header)
                return [o for o in outcomes if o is not None]
            raise
        # one at a time, so the one that raced is told apart from the others
        for i, entry in entries:
            outcomes[i] = receive(db, entry.text, peer=entry.peer, now=now)
        return [o for o in outcomes if o is not None]
    except BaseException:
        db.rollback()
        cache.clear()
        raise
    letter_of = {i: lid for (i, _, _), lid in zip(letters, letter_ids, strict=True)}
    for (i, entry), result in zip(entries, charted, strict=True):
        if isinstance(result, _Undeliverable):
            r = result.refusal
            outcomes[i] = Outcome(
                r.ack_code, entry.header, r.reason, r.where, r.error_code, dead_letter_id=letter_of[i]
            )
        else:
            outcomes[i] = result
    return [o for o in outcomes if o is not None]


def _charted_per_clinic(results: Sequence[Outcome | _Undeliverable]) -> dict[uuid.UUID, int]:
    out: dict[uuid.UUID, int] = {}
    for r in results:
        if isinstance(r, Outcome):
            for clinic in r.clinics:
                out[clinic] = out.get(clinic, 0) + r.charted
    return out


def _receipted(db: Session, header: Header) -> bool:
    return (
        db.scalar(
            select(m.Hl7Receipt.id).where(
                m.Hl7Receipt.sender == header.sender[:200], m.Hl7Receipt.control_id == header.control_id[:199]
            )
        )
        is not None
    )


def _duplicate(header: Header) -> Outcome:
    return Outcome("AA", header, "Already charted: this message was received before.", duplicate=True)


# The batch's reads, built once (statements are immutable; building one and its cache key cost
# about as much as running it, and they run for every batch).
_RECEIPTS = select(m.Hl7Receipt.sender, m.Hl7Receipt.control_id).where(
    tuple_(m.Hl7Receipt.sender, m.Hl7Receipt.control_id).in_(bindparam("keys", expanding=True))
)
_MONITORS = select(
    m.Monitor.id,
    m.Monitor.clinic_id,
    m.Monitor.chair_id,
    m.Monitor.device_id,
    m.Monitor.location,
    m.Monitor.label,
).where(
    or_(
        m.Monitor.device_id.in_(bindparam("devices", expanding=True)),
        m.Monitor.location.in_(bindparam("locations", expanding=True)),
    ),
    m.Monitor.active.is_(True),
)
_PLACES = (
    select(m.Chair.id, m.Chair.label, m.Clinic.name, m.Clinic.timezone)
    .join(m.Clinic, m.Clinic.id == m.Chair.clinic_id)
    .where(m.Chair.id.in_(bindparam("chairs", expanding=True)))
)
_OPEN_SESSIONS = (
    select(
        m.InfusionSession.id,
        m.InfusionSession.chair_id,
        m.InfusionSession.clinic_id,
        m.InfusionSession.patient_id,
        m.InfusionSession.opened_at,
    )
    .where(
        m.InfusionSession.chair_id.in_(bindparam("chairs", expanding=True)),
        m.InfusionSession.opened_at <= bindparam("latest"),
        m.InfusionSession.opened_at >= bindparam("earliest"),
    )
    .order_by(m.InfusionSession.opened_at.desc())
)


@dataclass(frozen=True)
class _Place:
    """A monitor's chair and clinic, as the charting needs them."""

    chair_label: str
    clinic_name: str
    zone: ZoneInfo


def _chart_all(
    db: Session, entries: list[_Entry], *, now: datetime, cache: ContextCache
) -> list[Outcome | _Undeliverable]:
    """Chart each entry in the open transaction (the caller flushes and commits), in order: its
    Outcome, or the _Undeliverable saying why it cannot be charted (nothing of it charted). What
    every entry needs is read once for the batch: the receipts, the monitors, their chairs and
    clinics, the infusions open in those chairs, and each infusion's context (`cache`)."""
    begin_write(db)
    keys = [(e.header.sender[:200], e.header.control_id[:199]) for e in entries]
    receipted = set(db.execute(_RECEIPTS, {"keys": sorted(set(keys))}).tuples())
    monitors = _monitors(db, entries)
    places = _places(db, {mon.chair_id for mon in monitors})
    cache.check(db, {mon.clinic_id for mon in monitors})
    sessions = _sessions(db, entries, monitors, places)
    rows: dict[str, list[dict[str, Any]]] = {"vital_signs": [], "audit_events": [], "hl7_receipts": []}
    results: list[Outcome | _Undeliverable] = []
    for entry, key in zip(entries, keys, strict=True):
        if key in receipted:
            results.append(_duplicate(entry.header))
            continue
        found = _monitor_for(monitors, entry)
        try:
            if entry.message is None:
                assert entry.refused is not None
                raise _Undeliverable(entry.refused, found.clinic_id if found else None)
            if found is None:
                raise _Undeliverable(_unknown_monitor(entry.message), None)
            try:
                results.append(
                    _chart_readings(db, entry, found, places[found.chair_id], sessions, cache, rows, now=now)
                )
            except Refusal as refusal:
                raise _Undeliverable(refusal, found.clinic_id) from None
        except _Undeliverable as exc:
            results.append(exc)
            continue
        receipted.add(key)
    _insert(db, rows)
    return results


def _insert(db: Session, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Insert the batch's rows, one statement per table, chained as the ORM's flush chains them."""
    rows = {name: values for name, values in rows.items() if values}
    if not rows:
        return
    conn = db.connection()
    chained = chained_tables()
    link(conn, {name: values for name, values in rows.items() if name in chained})
    tables = m.Base.metadata.tables
    for name, values in rows.items():
        conn.execute(tables[name].insert(), values)


def _unknown_monitor(message: oru.MonitorMessage) -> Refusal:
    header = message.header
    named = [f"device id {d}" for d in message.device_ids]
    named += [f"location {message.location}"] if message.location else []
    named += [f"sender {header.sending_application}"] if header.sending_application else []
    return Refusal(
        "AR",
        f"No monitor is registered with {' or '.join(named) or 'any identifier sent'}; an "
        "administrator registers it (ketaflow hl7 monitors add), then replays this message.",
        where="OBX^1^18" if message.device_ids else ("PV1^1^3" if message.location else "MSH^1^3"),
        error_code=oru.UNKNOWN_KEY,
    )


def _identifiers(entry: _Entry) -> tuple[tuple[str, ...], str, str]:
    """The device ids, location and sending application an entry names (as far as it was read)."""
    if entry.message is not None:
        return entry.message.device_ids, entry.message.location, entry.header.sending_application
    assert entry.refused is not None
    return entry.refused.device_ids, entry.refused.location, entry.header.sending_application


def _monitors(db: Session, entries: list[_Entry]) -> list[m.Monitor]:
    """The active monitors any entry may name (one query for the batch)."""
    devices: set[str] = set()
    locations: set[str] = set()
    for entry in entries:
        ids, location, sender = _identifiers(entry)
        devices.update(ids)
        devices.update([sender] if sender else [])
        locations.update([location] if location else [])
    found = db.execute(_MONITORS, {"devices": sorted(devices), "locations": sorted(locations)}).all()
    return cast("list[m.Monitor]", found)  # rows with the attributes read of a Monitor


def _monitor_for(monitors: list[m.Monitor], entry: _Entry) -> m.Monitor | None:
    ids, location, sender = _identifiers(entry)
    return pick_monitor(monitors, ids, location, sender)


def _places(db: Session, chair_ids: set[uuid.UUID]) -> dict[uuid.UUID, _Place]:
    rows = db.execute(_PLACES, {"chairs": sorted(chair_ids)}).tuples()
    return {cid: _Place(label, name, ZoneInfo(tz)) for cid, label, name, tz in rows}


def _sessions(
    db: Session, entries: list[_Entry], monitors: list[m.Monitor], places: dict[uuid.UUID, _Place]
) -> dict[uuid.UUID, list[OpenInfusion]]:
    """The infusions opened in the batch's chairs that any of its readings may fall in (newest first)."""
    times = [
        r.observed_at.to_utc(places[mon.chair_id].zone)
        for e in entries
        if e.message is not None and (mon := _monitor_for(monitors, e)) is not None
        for r in e.message.readings
    ]
    out: dict[uuid.UUID, list[OpenInfusion]] = {}
    if not times:
        return out
    chairs = sorted({mon.chair_id for mon in monitors})
    bounds = {"chairs": chairs, "latest": max(times), "earliest": min(times) - SESSION_LOOKBACK}
    for row in db.execute(_OPEN_SESSIONS, bounds).tuples():
        session = OpenInfusion(*row)
        assert session.chair_id is not None  # selected by it
        out.setdefault(session.chair_id, []).append(session)
    return out


def _chart_readings(
    db: Session,
    entry: _Entry,
    monitor: m.Monitor,
    place: _Place,
    sessions: dict[uuid.UUID, list[OpenInfusion]],
    cache: ContextCache,
    rows: dict[str, list[dict[str, Any]]],
    *,
    now: datetime,
) -> Outcome:
    """Check every reading of the message, then chart them (so a refusal leaves nothing written)."""
    message = entry.message
    assert message is not None
    header = message.header
    zone = place.zone
    planned: list[tuple[datetime, clinical.VitalSigns, InfusionContext]] = []
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
        context = _seated(db, sessions.get(monitor.chair_id, []), at, cache)
        if context is None:
            raise Refusal(
                "AE",
                f"No infusion is open in {place.chair_label} at {place.clinic_name} at "
                f"{at.astimezone(zone):%Y-%m-%d %H:%M}; seat the patient first, then replay this message.",
                where=where_time,
            )
        if context.patient_id not in checked_patient:
            _check_patient(db, context, message.patient_ids, place.chair_label)
            checked_patient.add(context.patient_id)
        planned.append((at, signs, context))
    actor = Actor(None, f"monitor:{monitor.label}"[:120], entry.peer or None, f"hl7:{header.sender}"[:255])
    charted: list[uuid.UUID] = []
    levels: list[str] = []
    for at, signs, context in planned:
        values = vital_sign_row(
            context.clinic_id,
            context.patient_id,
            context.session_id,
            signs,
            [e for e in context.pumps if e.at <= at],
            measured_at=at,
            source=VitalSource.MONITOR,
            recorded_by_id=None,
            recorded_at=now,
            monitor_id=monitor.id,
            message_control_id=header.control_id,
        )
        rows["vital_signs"].append(values)
        row = charted_reading(values)
        assessed = assess_latest([*context.earlier(row), row], context.onsets)
        assert assessed is not None
        context.add(row)
        charted.append(row.id)
        levels.append(assessed.level)
        rows["audit_events"].append(
            event_values(
                actor,
                "vitals.create",
                "infusion_session",
                context.session_id,
                clinic_id=context.clinic_id,
                patient_id=context.patient_id,
                details={
                    "level": assessed.level,
                    "source": "monitor",
                    "monitor_id": str(monitor.id),
                    "control_id": header.control_id,
                },
            )
        )
    rows["hl7_receipts"].append(
        {
            "id": uuid.uuid4(),
            "clinic_id": monitor.clinic_id,
            "sender": header.sender[:200],
            "control_id": header.control_id[:199],
            "monitor_id": monitor.id,
            "received_at": now,
            "readings": len(charted),
        }
    )
    return Outcome(
        "AA",
        header,
        charted=len(charted),
        levels=tuple(levels),
        charted_ids=tuple(charted),
        clinics=frozenset({monitor.clinic_id}),
    )


def _seated(
    db: Session, sessions: list[OpenInfusion], at: datetime, cache: ContextCache
) -> InfusionContext | None:
    """The infusion open in the chair at `at` (as `monitors.seated_session` finds it), with its context."""
    session = next((s for s in sessions if at - SESSION_LOOKBACK <= s.opened_at <= at), None)
    if session is None:
        return None
    context = cache.get(db, session, at)
    left = context.discharged_at
    return context if left is None or left > at else None


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


def _check_patient(db: Session, context: InfusionContext, patient_ids: tuple[str, ...], chair: str) -> None:
    """If the message names the patient (PID-3), it must be the patient in the chair."""
    if not patient_ids or context.mrn in patient_ids:
        return
    known = db.scalar(
        select(m.Patient.id).where(
            m.Patient.organization_id == context.organization_id, m.Patient.mrn.in_(patient_ids)
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


def _keep_letter(
    db: Session,
    text: str,
    header: Header,
    refusal: Refusal,
    clinic_id: uuid.UUID | None,
    *,
    peer: str,
    now: datetime,
) -> uuid.UUID:
    """Keep the message that could not be charted (the same message again: one letter, one more
    attempt), in the open writing transaction (the caller commits)."""
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
    return letter.id


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
        entry = _Entry(text, peer, header, read_oru(text))
    except Refusal as refusal:
        entry = _Entry(text, peer, header, None, refusal)
    cache = ContextCache()
    try:
        (result,) = _chart_all(db, [entry], now=now, cache=cache)
        if isinstance(result, _Undeliverable):
            _keep_letter(db, text, header, result.refusal, result.clinic_id, peer=peer, now=now)
            db.commit()
            r = result.refusal
            return Outcome(r.ack_code, header, r.reason, r.where, r.error_code, dead_letter_id=letter_id)
    except BaseException:
        db.rollback()
        raise
    outcome = result
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
