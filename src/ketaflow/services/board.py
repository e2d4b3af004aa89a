"""The chair board: every chair of a clinic today, who is in it and how they are doing."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinics import clinic_for
from ketaflow.services.infusion import VitalRow, assess_latest
from ketaflow.services.permissions import Action, allowed
from ketaflow.services.session_state import InfusionState, PumpRecord, state_of
from ketaflow.store import models as m
from ketaflow.store.facts import current
from ketaflow.vocabulary import AdministrationKind, AppointmentStatus


@dataclass(frozen=True)
class Slot:
    appointment_id: uuid.UUID
    starts_at: datetime
    patient_id: uuid.UUID
    patient_name: str
    mrn: str
    status: str
    driver: str | None  # the driver's name, or the arranged transport
    driver_phone: str | None = None  # to call when the patient is ready to go home
    version: int = 1
    session_id: uuid.UUID | None = None
    state: str = "booked"
    elapsed_min: float | None = None
    last_vitals: VitalRow | None = None
    open_requests: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True)
class ChairCard:
    chair_id: uuid.UUID
    label: str
    now: Slot | None
    later: list[Slot] = field(default_factory=list)


@dataclass(frozen=True)
class Board:
    clinic: m.Clinic
    day: date
    chairs: list[ChairCard]
    unassigned: list[Slot]
    # False for a reader who may not read clinical records (the front desk): the board then
    # shows who is where, the infusion's state and open requests for help, not vitals or alerts.
    clinical: bool = True


def chair_board(db: Session, who: CurrentUser, code: str, now: datetime) -> Board:
    """Today's board (the clinic's local day), built from a fixed handful of queries."""
    clinic = clinic_for(db, who, code, Action.VIEW_BOARD)
    clinical = allowed(who, Action.READ_CLINICAL, clinic.id)
    zone = ZoneInfo(clinic.timezone)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), zone)
    chairs = db.scalars(
        select(m.Chair).where(m.Chair.clinic_id == clinic.id).order_by(m.Chair.position)
    ).all()
    rows = db.execute(
        select(m.Appointment, m.Patient.given_name, m.Patient.family_name, m.Patient.mrn)
        .join(m.Patient, m.Patient.id == m.Appointment.patient_id)
        .where(
            m.Appointment.clinic_id == clinic.id,
            m.Appointment.starts_at >= start,
            m.Appointment.starts_at < start + timedelta(days=1),
            m.Appointment.status != AppointmentStatus.CANCELLED,
        )
        .order_by(m.Appointment.starts_at)
    ).all()
    appt_ids = [a.id for a, *_ in rows]
    sessions = {
        s.appointment_id: s
        for s in db.scalars(select(m.InfusionSession).where(m.InfusionSession.appointment_id.in_(appt_ids)))
    }
    discharged = set(
        db.scalars(
            select(m.Discharge.session_id).where(
                m.Discharge.session_id.in_([s.id for s in sessions.values()])
            )
        )
    )
    # A discharged patient has left the chair: the board shows only their state, so only the
    # sessions still in the chair need their pump events, vitals and requests (late in the
    # day that is a handful, not the whole day's infusions).
    session_ids = [s.id for s in sessions.values() if s.id not in discharged]
    events: dict[uuid.UUID, list[PumpRecord]] = defaultdict(list)
    for e in db.scalars(
        current(m.AdministrationEvent)
        .where(m.AdministrationEvent.session_id.in_(session_ids))
        .order_by(m.AdministrationEvent.occurred_at)
    ):
        events[e.session_id].append(
            PumpRecord(AdministrationKind(e.kind), e.occurred_at, e.rate_mg_per_min, e.cumulative_mg)
        )
    vitals: dict[uuid.UUID, list[m.VitalSign]] = defaultdict(list)
    if clinical:  # not read at all for the front desk
        for v in db.scalars(
            current(m.VitalSign)
            .where(m.VitalSign.session_id.in_(session_ids))
            .order_by(m.VitalSign.measured_at)
        ):
            if v.session_id is not None:
                vitals[v.session_id].append(v)
    requests: dict[uuid.UUID, list[tuple[str, datetime]]] = defaultdict(list)
    for r in db.scalars(
        current(m.AssistanceRequest).where(
            m.AssistanceRequest.session_id.in_(session_ids), m.AssistanceRequest.helped_at.is_(None)
        )
    ):
        requests[r.session_id].append((r.reason, r.asked_at))

    by_chair: dict[uuid.UUID | None, list[Slot]] = defaultdict(list)
    for appt, given, family, mrn in rows:
        session = sessions.get(appt.id)
        slot = Slot(
            appointment_id=appt.id,
            starts_at=appt.starts_at,
            patient_id=appt.patient_id,
            patient_name=f"{given} {family}",
            mrn=mrn,
            status=appt.status,
            driver=appt.escort_name or appt.transport_arranged,
            driver_phone=appt.escort_phone if appt.escort_name else None,
            version=appt.version,
        )
        if session is not None and session.id in discharged:
            slot = replace(slot, session_id=session.id, state=InfusionState.DISCHARGED.value)
        elif session is not None:
            evs = events.get(session.id, [])
            state = state_of(evs, discharged=False)
            slot = replace(
                slot,
                session_id=session.id,
                state=state.value,
                elapsed_min=(now - evs[0].at).total_seconds() / 60 if evs else None,
                last_vitals=assess_latest(vitals.get(session.id, [])),
                open_requests=tuple(requests.get(session.id, [])),
            )
        elif appt.status == AppointmentStatus.CHECKED_IN:
            slot = replace(slot, state="checked in")
        by_chair[appt.chair_id].append(slot)

    cards = []
    for chair in chairs:
        slots = by_chair.get(chair.id, [])
        active = next(
            (
                s
                for s in slots
                if s.state
                in {
                    InfusionState.RUNNING.value,
                    InfusionState.PAUSED.value,
                    InfusionState.STOPPED.value,
                    InfusionState.NOT_STARTED.value,
                    "checked in",
                }
            ),
            None,
        )
        if active is None:
            active = next(
                (s for s in slots if s.state == "booked" and s.starts_at + timedelta(hours=3) > now), None
            )
        later = [s for s in slots if s is not active and s.starts_at > (active.starts_at if active else now)]
        cards.append(ChairCard(chair.id, chair.label, active, later))
    record_read(db, who.actor(), "board.view", "clinic", clinic.id, clinic_id=clinic.id)
    return Board(clinic=clinic, day=day, chairs=cards, unassigned=by_chair.get(None, []), clinical=clinical)
