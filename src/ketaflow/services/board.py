"""The chair board: every chair of a clinic today, who is in it and how they are doing."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, func, select, tuple_
from sqlalchemy.orm import Session

import ketaflow.clinical as clinical_rules
from ketaflow.services.attention import Attention, Need, OpenRequest, OpenSideEffect, needs_now
from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinics import clinic_for
from ketaflow.services.infusion import (
    VitalRow,
    assess_latest,
    charted_vitals,
    latest_vitals,
    symptom_onsets_by_session,
)
from ketaflow.services.permissions import Action, allowed
from ketaflow.services.session_state import InfusionState, PumpRecord, order_complete, state_of
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
    # What needs a hand, most urgent first (for the front desk: requests for help only).
    needs: tuple[Attention, ...] = ()
    paused_reason: str | None = None  # the reason charted with the pause (clinical readers)
    since_state_min: float | None = None  # minutes since the pause or the stop
    vitals_age_min: float | None = None

    @property
    def top(self) -> Attention | None:
        return self.needs[0] if self.needs else None


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

    @property
    def triage(self) -> list[tuple[str, Slot]]:
        """Chairs whose patient needs a hand, most urgent first: (chair label, slot)."""
        waiting = [(c.label, c.now) for c in self.chairs if c.now is not None and c.now.needs]
        waiting += [("no chair", s) for s in self.unassigned if s.needs]
        return sorted(waiting, key=lambda item: (item[1].needs[0].need, item[1].needs[0].since))


# The board's statements, built once: building a statement and its cache key cost about as much
# as running it (0.1-0.3 ms each, a dozen per board); the values are bound at each call.
_SESSION_IDS: BindParameter[Any] = bindparam("session_ids", expanding=True)
_CHAIRS = select(m.Chair).where(m.Chair.clinic_id == bindparam("clinic_id")).order_by(m.Chair.position)
_DAY = (
    select(m.Appointment, m.Patient.given_name, m.Patient.family_name, m.Patient.mrn)
    .join(m.Patient, m.Patient.id == m.Appointment.patient_id)
    .where(
        m.Appointment.clinic_id == bindparam("clinic_id"),
        m.Appointment.starts_at >= bindparam("start"),
        m.Appointment.starts_at < bindparam("end"),
        m.Appointment.status != AppointmentStatus.CANCELLED,
    )
    .order_by(m.Appointment.starts_at)
)
_SESSIONS = select(m.InfusionSession).where(
    m.InfusionSession.appointment_id.in_(bindparam("appointment_ids", expanding=True))
)
_DISCHARGED = select(m.Discharge.session_id).where(m.Discharge.session_id.in_(_SESSION_IDS))
_EVENTS = (
    current(m.AdministrationEvent)
    .where(m.AdministrationEvent.session_id.in_(_SESSION_IDS))
    .order_by(m.AdministrationEvent.occurred_at)
)
# The board shows each infusion's latest reading, assessed against the infusion's first reading and
# those within the confirmation window before it (`assess_latest`): only those are read, not every
# reading of the infusion (a monitor charting every few seconds makes hundreds).
_VITAL_SPAN = (
    charted_vitals()
    .with_only_columns(
        m.VitalSign.session_id, func.min(m.VitalSign.measured_at), func.max(m.VitalSign.measured_at)
    )
    .where(m.VitalSign.session_id.in_(_SESSION_IDS))
    .group_by(m.VitalSign.session_id)
)
_VITALS_SINCE = (
    charted_vitals()
    .where(m.VitalSign.session_id.in_(_SESSION_IDS), m.VitalSign.measured_at >= bindparam("since"))
    .order_by(m.VitalSign.measured_at)
)
_FIRST_VITALS = (
    charted_vitals()
    .where(tuple_(m.VitalSign.session_id, m.VitalSign.measured_at).in_(bindparam("firsts", expanding=True)))
    .order_by(m.VitalSign.measured_at)
)


def _assessed_vitals(db: Session, session_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[m.VitalSign]]:
    """Per infusion, in time order, what `assess_latest` reads of its readings: the first one and
    those within the confirmation window before the latest."""
    span = {sid: (first, last) for sid, first, last in db.execute(_VITAL_SPAN, {"session_ids": session_ids})}
    out: dict[uuid.UUID, list[m.VitalSign]] = defaultdict(list)
    if not span:
        return out
    window = timedelta(minutes=clinical_rules.default_rules().vitals.confirmation.window_minutes)
    since = min(last for _, last in span.values()) - window
    firsts = [(sid, first) for sid, (first, _) in span.items()]
    found: dict[uuid.UUID, dict[uuid.UUID, m.VitalSign]] = defaultdict(dict)
    for v in db.scalars(_FIRST_VITALS, {"firsts": firsts}):
        assert v.session_id is not None
        found[v.session_id].setdefault(v.id, v)
    for v in db.scalars(_VITALS_SINCE, {"session_ids": list(span), "since": since}):
        assert v.session_id is not None
        if v.measured_at >= span[v.session_id][1] - window:
            found[v.session_id].setdefault(v.id, v)
    for sid, rows in found.items():
        out[sid] = sorted(rows.values(), key=lambda r: r.measured_at)
    return out


_REQUESTS = (
    current(m.AssistanceRequest)
    .where(m.AssistanceRequest.session_id.in_(_SESSION_IDS), m.AssistanceRequest.helped_at.is_(None))
    .order_by(m.AssistanceRequest.asked_at)
)
_OPEN_SIDE_EFFECTS = current(m.SideEffect).where(
    m.SideEffect.session_id.in_(_SESSION_IDS), m.SideEffect.resolved_at.is_(None)
)
_ORDERS = (
    current(m.DoseOrder).where(m.DoseOrder.session_id.in_(_SESSION_IDS)).order_by(m.DoseOrder.ordered_at)
)


def chair_board(db: Session, who: CurrentUser, code: str, now: datetime) -> Board:
    """Today's board (the clinic's local day), built from a fixed handful of queries."""
    clinic = clinic_for(db, who, code, Action.VIEW_BOARD)
    clinical = allowed(who, Action.READ_CLINICAL, clinic.id)
    zone = ZoneInfo(clinic.timezone)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), zone)
    chairs = db.scalars(_CHAIRS, {"clinic_id": clinic.id}).all()
    rows = db.execute(_DAY, {"clinic_id": clinic.id, "start": start, "end": start + timedelta(days=1)}).all()
    appt_ids = [a.id for a, *_ in rows]
    sessions = {s.appointment_id: s for s in db.scalars(_SESSIONS, {"appointment_ids": appt_ids})}
    discharged = set(db.scalars(_DISCHARGED, {"session_ids": [s.id for s in sessions.values()]}))
    # A discharged patient has left the chair: the board shows only their state, so only the
    # sessions still in the chair need their pump events, vitals and requests (late in the
    # day that is a handful, not the whole day's infusions).
    session_ids = [s.id for s in sessions.values() if s.id not in discharged]
    events: dict[uuid.UUID, list[PumpRecord]] = defaultdict(list)
    reasons: dict[uuid.UUID, str | None] = {}  # the last event's reason (a pause's, say)
    chairside = {"session_ids": session_ids}
    for e in db.scalars(_EVENTS, chairside):
        events[e.session_id].append(
            PumpRecord(AdministrationKind(e.kind), e.occurred_at, e.rate_mg_per_min, e.cumulative_mg)
        )
        reasons[e.session_id] = e.reason if clinical else None
    vitals: dict[uuid.UUID, list[m.VitalSign]] = defaultdict(list)
    if clinical:  # not read at all for the front desk
        vitals = _assessed_vitals(db, session_ids)
    # Symptoms that confirm a blood-pressure pause, as the infusion page counts them.
    onsets = symptom_onsets_by_session(db, session_ids) if clinical else {}
    requests: dict[uuid.UUID, list[OpenRequest]] = defaultdict(list)
    for r in db.scalars(_REQUESTS, chairside):
        requests[r.session_id].append(OpenRequest(r.id, r.reason, r.asked_at))
    side_effects: dict[uuid.UUID, list[OpenSideEffect]] = defaultdict(list)
    vtbi: dict[uuid.UUID, float] = {}
    if clinical:  # open side effects, the bag and pause reasons are clinical records
        for fx in db.scalars(_OPEN_SIDE_EFFECTS, chairside):
            side_effects[fx.session_id].append(
                OpenSideEffect(fx.id, fx.kind, fx.severity, fx.onset_at, fx.is_adverse_event)
            )
        for o in db.scalars(_ORDERS, chairside):
            vtbi[o.session_id] = o.vtbi_mg
    checks_every = clinical_rules.default_rules().vitals.monitoring.during_every_minutes

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
            last = assess_latest(vitals.get(session.id, []), onsets.get(session.id, []))
            asked = requests.get(session.id, [])
            needs = needs_now(
                state=state,
                latest=latest_vitals(last) if last else None,
                requests=asked,
                side_effects=side_effects.get(session.id, []),
                order_complete=session.id in vtbi and order_complete(evs, now, vtbi_mg=vtbi[session.id]),
                checks_every_min=checks_every,
                started_at=evs[0].at if evs else None,
                now=now,
            )
            if not clinical:  # the front desk sees requests for help, nothing clinical
                needs = [n for n in needs if n.need is Need.HELP]
            held = state in (InfusionState.PAUSED, InfusionState.STOPPED) and evs
            slot = replace(
                slot,
                session_id=session.id,
                state=state.value,
                elapsed_min=(now - evs[0].at).total_seconds() / 60 if evs else None,
                last_vitals=last,
                open_requests=tuple((r.reason, r.asked_at) for r in asked),
                needs=tuple(needs),
                paused_reason=reasons.get(session.id) if state is InfusionState.PAUSED else None,
                since_state_min=(now - evs[-1].at).total_seconds() / 60 if held else None,
                vitals_age_min=(now - last.measured_at).total_seconds() / 60 if last else None,
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
    unassigned = by_chair.get(None, [])
    # Which patients were on screen (issue 12): every one the board carries, in board order.
    shown = [s.patient_id for card in cards for s in (card.now, *card.later) if s] + [
        s.patient_id for s in unassigned
    ]
    record_read(
        db,
        who.actor(),
        "board.view",
        "clinic",
        clinic.id,
        clinic_id=clinic.id,
        details={"patients": [str(p) for p in dict.fromkeys(shown)]},
    )
    return Board(clinic=clinic, day=day, chairs=cards, unassigned=unassigned, clinical=clinical)
