"""The registry of bedside monitors (issue 16): which monitor is in which chair of which clinic,
known by the device id it sends and/or the location its gateway sends. The administrator keeps it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict, InvalidInput, NotFound
from ketaflow.services.audit import Actor, record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinics import clinic_for
from ketaflow.services.infusion import current_order, pump_records
from ketaflow.services.permissions import Action
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.store.facts import current
from ketaflow.vocabulary import AdministrationKind

# How long before the observation an infusion may have been opened and still be the one in the chair.
SESSION_LOOKBACK = timedelta(hours=24)
DEVICE_ID_MAX = 199  # OBX-18 EI.1 / MSH-3 HD.1 as stored
LOCATION_MAX = 120


@dataclass(frozen=True)
class MonitorRow:
    id: uuid.UUID
    label: str
    chair: str
    device_id: str | None
    location: str | None
    active: bool


def _tidy(value: str | None, what: str, limit: int) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > limit:
        raise InvalidInput(f"The {what} is too long ({len(text)} characters); at most {limit}.")
    if any(c in text for c in "\r\n|"):
        raise InvalidInput(f"The {what} cannot contain a line break or '|'; give it as the monitor sends it.")
    return text


def register_monitor(
    db: Session,
    who: CurrentUser,
    clinic_code: str,
    chair_label: str,
    *,
    label: str,
    device_id: str | None,
    location: str | None,
    now: datetime,
) -> m.Monitor:
    """Register a monitor in a chair. It needs a device id (as OBX-18.1 or MSH-3.1 sends it) or a
    location (PV1-3 as the gateway sends it, components separated by ^), or both."""
    begin_write(db)
    clinic = clinic_for(db, who, clinic_code, Action.MANAGE_MONITORS)
    chair = db.scalar(
        select(m.Chair).where(m.Chair.clinic_id == clinic.id, m.Chair.label == chair_label.strip())
    )
    if chair is None:
        labels = ", ".join(c.label for c in clinic.chairs) or "none"
        raise NotFound(f"{clinic.name} has no chair {chair_label!r} (its chairs: {labels}).")
    device = _tidy(device_id, "device id", DEVICE_ID_MAX)
    place = _tidy(location, "location", LOCATION_MAX)
    name = _tidy(label, "label", 80) or chair.label
    if device is None and place is None:
        raise InvalidInput(
            "Give the monitor's device id (what it sends in OBX-18 or MSH-3) or its location "
            "(what the gateway sends in PV1-3), or both."
        )
    taken = db.scalar(
        select(m.Monitor).where(
            or_(
                m.Monitor.device_id == device if device else false(),
                m.Monitor.location == place if place else false(),
            )
        )
    )
    if taken is not None:
        raise Conflict(
            f"Another monitor ({taken.label}) is already registered with that "
            f"{'device id' if device and taken.device_id == device else 'location'}; "
            "retire it first if it moved."
        )
    monitor = m.Monitor(
        clinic_id=clinic.id,
        chair_id=chair.id,
        device_id=device,
        location=place,
        label=name,
        created_at=now,
        created_by_id=who.user.id,
    )
    db.add(monitor)
    db.flush()
    record(
        db,
        who.actor(),
        "monitor.create",
        "monitor",
        monitor.id,
        clinic_id=clinic.id,
        details={"chair": chair.label, "device_id": device, "location": place},
    )
    db.commit()
    return monitor


def retire_monitor(
    db: Session, who: CurrentUser, clinic_code: str, monitor_id: uuid.UUID, *, now: datetime
) -> None:
    """Take a monitor out of service: its messages are no longer charted, and its device id and
    location may be registered again (kept in the row's history via the audit trail)."""
    begin_write(db)
    clinic = clinic_for(db, who, clinic_code, Action.MANAGE_MONITORS)
    monitor = db.get(m.Monitor, monitor_id)
    if monitor is None or monitor.clinic_id != clinic.id:
        raise NotFound("There is no such monitor at this clinic.")
    details = {"device_id": monitor.device_id, "location": monitor.location}
    monitor.active = False
    monitor.device_id = None
    monitor.location = None
    record(db, who.actor(), "monitor.deactivate", "monitor", monitor.id, clinic_id=clinic.id, details=details)
    db.commit()


def list_monitors(db: Session, who: CurrentUser, clinic_code: str) -> list[MonitorRow]:
    clinic = clinic_for(db, who, clinic_code, Action.MANAGE_MONITORS)
    rows = db.execute(
        select(m.Monitor, m.Chair.label)
        .join(m.Chair, m.Chair.id == m.Monitor.chair_id)
        .where(m.Monitor.clinic_id == clinic.id)
        .order_by(m.Chair.position, m.Chair.label, m.Monitor.label)
    ).all()
    return [
        MonitorRow(mon.id, mon.label, chair, mon.device_id, mon.location, mon.active) for mon, chair in rows
    ]


def find_monitor(db: Session, device_ids: tuple[str, ...], location: str, sender: str) -> m.Monitor | None:
    """The active monitor a message names: by an OBX-18 device id (in the order sent), else by the
    PV1-3 location, else by MSH-3 (a monitor that sends straight to ketaflow, with no gateway)."""
    candidates = [*device_ids, sender] if sender else list(device_ids)
    rows = list(
        db.scalars(
            select(m.Monitor).where(
                or_(
                    m.Monitor.device_id.in_(candidates),
                    m.Monitor.location == location if location else false(),
                ),
                m.Monitor.active.is_(True),
            )
        )
    )
    return pick_monitor(rows, device_ids, location, sender)


def pick_monitor(
    rows: Sequence[m.Monitor], device_ids: tuple[str, ...], location: str, sender: str
) -> m.Monitor | None:
    """`find_monitor` among active monitors already read (`rows`): by an OBX-18 device id (in the
    order sent), else by the PV1-3 location, else by MSH-3."""
    by_device = {mon.device_id: mon for mon in rows if mon.device_id}
    for ident in device_ids:
        if ident in by_device:
            return by_device[ident]
    by_location = next((mon for mon in rows if location and mon.location == location), None)
    return by_location or (by_device.get(sender) if sender else None)


def seated_session(db: Session, chair_id: uuid.UUID, at: datetime) -> m.InfusionSession | None:
    """The infusion open in the chair at `at`: the latest opened before it (within a day), unless
    its patient had been discharged by then (the chair was empty)."""
    session = db.scalars(
        select(m.InfusionSession)
        .where(
            m.InfusionSession.chair_id == chair_id,
            m.InfusionSession.opened_at <= at,
            m.InfusionSession.opened_at >= at - SESSION_LOOKBACK,
        )
        .order_by(m.InfusionSession.opened_at.desc())
        .limit(1)
    ).first()
    if session is None:
        return None
    left = db.scalar(
        current(m.Discharge)
        .with_only_columns(m.Discharge.discharged_at)
        .where(m.Discharge.session_id == session.id)
        .order_by(m.Discharge.discharged_at)
        .limit(1)
    )
    return session if left is None or left > at else None


@dataclass(frozen=True)
class SeatedMonitor:
    """A monitor whose chair has an infusion open now, and that infusion's pump as charted (for
    the monitor simulator)."""

    monitor_label: str
    chair: str
    device_id: str | None
    location: str | None
    session_id: uuid.UUID
    started_at: datetime | None
    minutes: float
    stopped_at: datetime | None
    mrn: str
    family_name: str
    given_name: str


def seated_monitors(db: Session, actor: Actor, clinic_code: str, now: datetime) -> list[SeatedMonitor]:
    """The clinic's active monitors with a patient in their chair now (the operator's read, audited)."""
    from ketaflow.services.session_state import state_of

    clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == clinic_code.strip().lower()))
    if clinic is None:
        raise NotFound(f"There is no clinic with the code {clinic_code!r}.")
    out: list[SeatedMonitor] = []
    monitors = db.execute(
        select(m.Monitor, m.Chair.label)
        .join(m.Chair, m.Chair.id == m.Monitor.chair_id)
        .where(m.Monitor.clinic_id == clinic.id, m.Monitor.active.is_(True))
        .order_by(m.Chair.position, m.Chair.label)
    ).all()
    for monitor, chair in monitors:
        session = seated_session(db, monitor.chair_id, now)
        if session is None:
            continue
        events = pump_records(db, session.id)
        order = current_order(db, session.id)
        patient = db.get(m.Patient, session.patient_id)
        assert patient is not None
        started = next((e.at for e in events if e.kind is AdministrationKind.START), None)
        stopped = events[-1].at if events and state_of(events, discharged=False).value == "stopped" else None
        out.append(
            SeatedMonitor(
                monitor.label,
                chair,
                monitor.device_id,
                monitor.location,
                session.id,
                started,
                order.duration_min if order else 40.0,
                stopped,
                patient.mrn,
                patient.family_name,
                patient.given_name,
            )
        )
    record_read(
        db, actor, "monitor.list", "clinic", clinic.id, clinic_id=clinic.id, details={"seated": len(out)}
    )
    return out
