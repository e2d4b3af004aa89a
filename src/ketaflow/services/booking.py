"""Booking appointments (no double booking, even under concurrency) and the clinic's week.

Lengths of a visit are clinic scheduling settings, not clinical numbers; the model has no
per-clinic setting yet, so these defaults follow the demo network's chair schedule
(`ketaflow.demo.schedule`): an infusion holds its chair 3.5 hours (check-in, a 40-minute
infusion and at least two hours' observation, the discharge rule's minimum), and an
infusion longer than an hour (the 4-hour pain protocols) holds it 7 hours.

Opening hours, closures and the booking horizon are the clinic's (`ketaflow.hours`, loaded by
`services.clinic_hours`): a new booking or a reschedule that falls outside them, lies beyond
the horizon, or names a time the clocks skip or pass twice that night is refused with a
sentence saying what to choose instead. `chair_use` still reports booked chair-hours without
a denominator; the director's page (`services.director`) sets them against the open hours.

Double booking: the clash check and the insert run in one write transaction. On SQLite
`begin_write` takes the database's single writer lock first; on PostgreSQL the patient's
row and then the chair's row are locked (SELECT ... FOR UPDATE, always in that order), so
two bookings for the same chair or the same patient queue and the second sees the first.
The clinic's row is share-locked before both, so a change of opening hours waits for the
bookings being checked against the old ones (and they for it).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict, InvalidInput, NotFound, Problems, invalid
from ketaflow.hours import local_instant
from ketaflow.input_rules import visit_day
from ketaflow.services import outbox
from ketaflow.services.audit import record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinic_hours import calendar_of
from ketaflow.services.clinics import clinic_for
from ketaflow.services.permissions import Action, allowed, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write, lock_row
from ketaflow.store.versioning import apply_edit
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus, PlanStatus

# Clinic scheduling settings (minutes), not clinical numbers; see the module docstring.
INFUSION_VISIT_MIN = 210
LONG_INFUSION_VISIT_MIN = 420
LONG_INFUSION_OVER_MIN = 60
CONSULTATION_MIN = 60  # clinic setting, no clinical source
FOLLOW_UP_MIN = 30  # clinic setting, no clinical source
# Input sanity for a typed length: a quarter of an hour to twelve hours (clinic setting).
LENGTH_RANGE_MIN = (15, 720)

INACTIVE = (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW)
KIND_LABEL = {
    AppointmentKind.CONSULTATION: "consultation",
    AppointmentKind.INFUSION: "infusion",
    AppointmentKind.FOLLOW_UP: "follow-up",
}


# ---- parsing ------------------------------------------------------------------------------


def parse_kind(value: str) -> AppointmentKind:
    text = (value or "").strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return AppointmentKind(text)
    except ValueError:
        raise invalid(
            "kind", "Choose what the appointment is for: consultation, infusion or follow-up."
        ) from None


def parse_day(value: str | date) -> date:
    if isinstance(value, date):
        return visit_day(value, "day", "Day")
    text = (value or "").strip()
    if not text:
        raise invalid("day", "Choose the day.")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise invalid("day", f"Write the day as YYYY-MM-DD (for example 2026-12-01); got {text!r}.") from None
    return visit_day(day, "day", "Day")


def parse_time(value: str | time) -> time:
    if isinstance(value, time):
        return value
    text = (value or "").strip()
    hit = re.fullmatch(r"(\d{1,2})[:.h](\d{2})", text)
    if not text:
        raise invalid("start", "Choose the start time.")
    if not hit or int(hit.group(1)) > 23 or int(hit.group(2)) > 59:
        raise invalid(
            "start", f"Write the start time as HH:MM on the 24-hour clock (for example 09:30); got {text!r}."
        )
    return time(int(hit.group(1)), int(hit.group(2)))


def parse_uuid(value: str | uuid.UUID | None, field_name: str, what: str) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise invalid(field_name, f"Choose {what} from the list.") from None


def default_length_min(kind: AppointmentKind, plan: m.TreatmentPlan | None) -> int:
    if kind is AppointmentKind.INFUSION:
        if plan is not None and plan.infusion_minutes > LONG_INFUSION_OVER_MIN:
            return LONG_INFUSION_VISIT_MIN
        return INFUSION_VISIT_MIN
    return CONSULTATION_MIN if kind is AppointmentKind.CONSULTATION else FOLLOW_UP_MIN


def _length(value: int | None) -> int | None:
    if value is None:
        return None
    lo, hi = LENGTH_RANGE_MIN
    if not lo <= value <= hi:
        raise invalid("length_min", f"The length must be between {lo} and {hi} minutes; got {value}.")
    return value


# ---- the clash check ----------------------------------------------------------------------


def _when(appt: m.Appointment, zone: ZoneInfo) -> str:
    a, b = appt.starts_at.astimezone(zone), appt.ends_at.astimezone(zone)
    return f"{a:%a %d %b %Y} {a:%H:%M}-{b:%H:%M}"


def _overlapping(starts: datetime, ends: datetime, ignore: uuid.UUID | None) -> list[object]:
    # Half-open intervals: one booking ending at 11:30 and the next starting at 11:30 do not clash.
    # The lower bound on starts_at lets the (chair_id, starts_at) index read only nearby rows:
    # no booking is longer than the longest length accepted here.
    conds: list[object] = [
        m.Appointment.starts_at < ends,
        m.Appointment.starts_at > starts - timedelta(minutes=LENGTH_RANGE_MIN[1]),
        m.Appointment.ends_at > starts,
        m.Appointment.status.not_in(INACTIVE),
    ]
    if ignore is not None:
        conds.append(m.Appointment.id != ignore)
    return conds


def check_free(
    db: Session,
    *,
    patient: m.Patient,
    chair: m.Chair | None,
    starts: datetime,
    ends: datetime,
    zone: ZoneInfo,
    ignore: uuid.UUID | None = None,
) -> None:
    """Refuse (Conflict naming the booking) if the chair or the patient is already taken then."""
    if chair is not None:
        clash = db.execute(
            select(m.Appointment, m.Patient.given_name, m.Patient.family_name)
            .join(m.Patient, m.Patient.id == m.Appointment.patient_id)
            .where(m.Appointment.chair_id == chair.id, *_overlapping(starts, ends, ignore))  # type: ignore[arg-type]
            .order_by(m.Appointment.starts_at)
            .limit(1)
        ).first()
        if clash is not None:
            appt, given, family = clash
            raise Conflict(
                f"{chair.label} is already booked {_when(appt, zone)} for {given} {family} "
                f"({KIND_LABEL[AppointmentKind(appt.kind)]}); choose another chair or time."
            )
    mine = db.execute(
        select(m.Appointment, m.Clinic.name)
        .join(m.Clinic, m.Clinic.id == m.Appointment.clinic_id)
        .where(m.Appointment.patient_id == patient.id, *_overlapping(starts, ends, ignore))  # type: ignore[arg-type]
        .order_by(m.Appointment.starts_at)
        .limit(1)
    ).first()
    if mine is not None:
        appt, clinic_name = mine
        raise Conflict(
            f"{patient.given_name} {patient.family_name} is already booked {_when(appt, zone)} at "
            f"{clinic_name} ({KIND_LABEL[AppointmentKind(appt.kind)]}); choose another time."
        )


def _active_plan(db: Session, patient_id: uuid.UUID) -> m.TreatmentPlan | None:
    return db.scalars(
        select(m.TreatmentPlan)
        .where(m.TreatmentPlan.patient_id == patient_id, m.TreatmentPlan.status == PlanStatus.ACTIVE)
        .order_by(m.TreatmentPlan.created_at.desc())
        .limit(1)
    ).first()


@dataclass(frozen=True)
class Slot:
    """A requested time and place, checked (UTC times)."""

    kind: AppointmentKind
    starts: datetime
    ends: datetime
    chair: m.Chair | None


def _slot(
    db: Session,
    clinic: m.Clinic,
    *,
    kind: AppointmentKind,
    day: str | date,
    start: str | time,
    chair_id: str | uuid.UUID | None,
    length_min: int | None,
    plan: m.TreatmentPlan | None,
    now: datetime,
) -> Slot:
    found = Problems()  # every mistake at once, each on its field
    the_day = found.check(lambda: parse_day(day), "day")
    at = found.check(lambda: parse_time(start), "start")
    length = found.check(lambda: _length(length_min), "length_min")
    chair = found.check(lambda: _chair(db, clinic, kind, chair_id), "chair_id")
    times = None
    if the_day is not None and at is not None and "length_min" not in found:
        minutes = length or default_length_min(kind, plan)
        times = found.check(lambda: _times(db, clinic, kind, the_day, at, minutes, now))
    found.raise_any()
    assert times is not None
    starts, ends = times
    return Slot(kind, starts, ends, chair)


def check_entries(
    day: str | date, start: str | time, length_min: int | None = None, kind: str | None = None
) -> None:
    """The checks of a booking's entries that need no database; every mistake at once (InvalidFields)."""
    found = Problems()
    if kind is not None:
        found.check(lambda: parse_kind(kind), "kind")
    found.check(lambda: parse_day(day), "day")
    found.check(lambda: parse_time(start), "start")
    found.check(lambda: _length(length_min), "length_min")
    found.raise_any()


def _times(
    db: Session, clinic: m.Clinic, kind: AppointmentKind, the_day: date, at: time, minutes: int, now: datetime
) -> tuple[datetime, datetime]:
    """The start and end (UTC) of a booking at `at` on `the_day`, if the clinic takes it then."""
    zone = ZoneInfo(clinic.timezone)
    past = f"{the_day:%a %d %b %Y} {at:%H:%M} is in the past; choose a time still to come."
    today = now.astimezone(zone).date()
    if the_day < today:  # (days are compared first: a year 1 or 9999 date has no UTC instant)
        raise invalid("day", past)
    calendar = calendar_of(db, clinic, first=the_day - timedelta(days=1), last=the_day + timedelta(days=2))
    beyond = calendar.horizon_misfit(the_day, today)
    if beyond is not None:
        raise beyond
    starts = local_instant(the_day, at, zone, field="start")
    ends = starts + timedelta(minutes=minutes)
    if starts < now:
        raise invalid("day", past)
    calendar.check(starts, ends, KIND_LABEL[kind])
    return starts, ends


def _chair(
    db: Session, clinic: m.Clinic, kind: AppointmentKind, chair_id: str | uuid.UUID | None
) -> m.Chair | None:
    """The chair asked for, if the kind of appointment takes one and it is one of the clinic's, in service."""
    cid = parse_uuid(chair_id, "chair_id", "a chair")
    if kind is AppointmentKind.INFUSION:
        if cid is None:
            raise invalid("chair_id", "An infusion needs a chair; choose one.")
    elif cid is not None:
        raise invalid("chair_id", "Only infusions are booked into a chair; leave the chair empty.")
    if cid is None:
        return None
    chair = db.get(m.Chair, cid)
    if chair is None or chair.clinic_id != clinic.id:
        raise invalid("chair_id", f"Choose one of {clinic.name}'s chairs.")
    if not chair.active:
        raise invalid("chair_id", f"{chair.label} is out of service; choose another chair.")
    return chair


# ---- use cases ----------------------------------------------------------------------------


def _patient_for_booking(db: Session, who: CurrentUser, patient_id: uuid.UUID) -> tuple[m.Patient, m.Clinic]:
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, Action.BOOK, patient.clinic_id)
    clinic = db.get(m.Clinic, patient.clinic_id)
    assert clinic is not None
    return patient, clinic


def book(
    db: Session,
    who: CurrentUser,
    patient_id: uuid.UUID,
    *,
    kind: str | AppointmentKind,
    day: str | date,
    start: str | time,
    chair_id: str | uuid.UUID | None = None,
    length_min: int | None = None,
    notes: str = "",
    now: datetime,
) -> m.Appointment:
    """Book the patient at their clinic; refused if the chair or the patient is taken then."""
    begin_write(db)
    patient, clinic = _patient_for_booking(db, who, patient_id)
    the_kind = kind if isinstance(kind, AppointmentKind) else parse_kind(kind)
    lock_row(db, m.Clinic, clinic.id, shared=True)  # the hours stay as read until commit
    plan = _active_plan(db, patient.id)
    slot = _slot(
        db,
        clinic,
        kind=the_kind,
        day=day,
        start=start,
        chair_id=chair_id,
        length_min=length_min,
        plan=plan,
        now=now,
    )
    lock_row(db, m.Patient, patient.id)
    if slot.chair is not None:
        lock_row(db, m.Chair, slot.chair.id)
    check_free(
        db,
        patient=patient,
        chair=slot.chair,
        starts=slot.starts,
        ends=slot.ends,
        zone=ZoneInfo(clinic.timezone),
    )
    appt = m.Appointment(
        id=uuid.uuid4(),
        clinic_id=clinic.id,
        patient_id=patient.id,
        chair_id=slot.chair.id if slot.chair else None,
        treatment_plan_id=plan.id if plan else None,
        kind=the_kind,
        starts_at=slot.starts,
        ends_at=slot.ends,
        status=AppointmentStatus.BOOKED,
        notes=(notes or "").strip() or None,
        created_at=now,
        updated_at=now,
    )
    db.add(appt)
    outbox.on_booked(db, appt, caused_by_id=who.user.id, now=now)  # committed with the booking, or not at all
    record(
        db,
        who.actor(),
        "appointment.book",
        "appointment",
        appt.id,
        clinic_id=clinic.id,
        patient_id=patient.id,
        details={
            "kind": the_kind.value,
            "starts_at": slot.starts.isoformat(),
            "ends_at": slot.ends.isoformat(),
        },
    )
    db.commit()
    return appt


def patient_of(db: Session, appointment_id: uuid.UUID) -> uuid.UUID:
    """The patient an appointment is for (to send a form back to their booking page)."""
    patient_id = db.scalar(select(m.Appointment.patient_id).where(m.Appointment.id == appointment_id))
    if patient_id is None:
        raise NotFound("There is no such appointment.")
    return patient_id


def _booked_appointment(db: Session, who: CurrentUser, appointment_id: uuid.UUID) -> m.Appointment:
    appt = db.get(m.Appointment, appointment_id)
    if appt is None:
        raise NotFound("There is no such appointment.")
    require(who, Action.BOOK, appt.clinic_id)
    if appt.status != AppointmentStatus.BOOKED:
        raise Conflict(
            f"This appointment is {appt.status.replace('_', ' ')}; only a booked appointment can be changed."
        )
    return appt


def cancel(
    db: Session,
    who: CurrentUser,
    appointment_id: uuid.UUID,
    *,
    expected_version: int,
    reason: str = "",
    now: datetime,
) -> m.Appointment:
    """Cancel a booked appointment (a stale version is refused: reload and try again)."""
    begin_write(db)
    appt = _booked_appointment(db, who, appointment_id)
    reason = re.sub(r"\s+", " ", reason or "").strip()
    notes = appt.notes
    if reason:
        notes = f"{notes}\n" if notes else ""
        notes += f"Cancelled: {reason}"
    apply_edit(
        db,
        appt,
        expected_version=expected_version,
        status=AppointmentStatus.CANCELLED,
        notes=notes,
        updated_at=now,
    )
    record(
        db,
        who.actor(),
        "appointment.cancel",
        "appointment",
        appt.id,
        clinic_id=appt.clinic_id,
        patient_id=appt.patient_id,
        details={"reason": reason},
    )
    db.commit()
    return appt


def reschedule(
    db: Session,
    who: CurrentUser,
    appointment_id: uuid.UUID,
    *,
    expected_version: int,
    day: str | date,
    start: str | time,
    chair_id: str | uuid.UUID | None = None,
    length_min: int | None = None,
    now: datetime,
) -> m.Appointment:
    """Move a booked appointment; the same clash checks as a new booking, itself excepted."""
    begin_write(db)
    appt = _booked_appointment(db, who, appointment_id)
    if appt.version != expected_version:  # the clearer message before any other check
        apply_edit(db, appt, expected_version=expected_version)
    patient = db.get(m.Patient, appt.patient_id)
    clinic = db.get(m.Clinic, appt.clinic_id)
    assert patient is not None and clinic is not None
    lock_row(db, m.Clinic, clinic.id, shared=True)  # the hours stay as read until commit
    kind = AppointmentKind(appt.kind)
    keep = int((appt.ends_at - appt.starts_at).total_seconds() // 60)
    slot = _slot(
        db,
        clinic,
        kind=kind,
        day=day,
        start=start,
        chair_id=chair_id
        if chair_id not in (None, "")
        else (appt.chair_id if kind is AppointmentKind.INFUSION else None),
        length_min=length_min if length_min is not None else keep,
        plan=None,
        now=now,
    )
    lock_row(db, m.Patient, patient.id)
    if slot.chair is not None:
        lock_row(db, m.Chair, slot.chair.id)
    check_free(
        db,
        patient=patient,
        chair=slot.chair,
        starts=slot.starts,
        ends=slot.ends,
        zone=ZoneInfo(clinic.timezone),
        ignore=appt.id,
    )
    before = {
        "starts_at": appt.starts_at.isoformat(),
        "chair_id": str(appt.chair_id) if appt.chair_id else None,
    }
    apply_edit(
        db,
        appt,
        expected_version=expected_version,
        starts_at=slot.starts,
        ends_at=slot.ends,
        chair_id=slot.chair.id if slot.chair else None,
        updated_at=now,
    )
    outbox.on_booked(db, appt, caused_by_id=who.user.id, now=now)  # the new time, confirmed
    record(
        db,
        who.actor(),
        "appointment.reschedule",
        "appointment",
        appt.id,
        clinic_id=appt.clinic_id,
        patient_id=appt.patient_id,
        details={"before": before, "starts_at": slot.starts.isoformat(), "ends_at": slot.ends.isoformat()},
    )
    db.commit()
    return appt


# ---- reading bookings ---------------------------------------------------------------------


@dataclass(frozen=True)
class Booking:
    appointment_id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    mrn: str
    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    chair_id: uuid.UUID | None
    chair_label: str | None
    version: int

    @property
    def active(self) -> bool:
        return self.status not in INACTIVE


@dataclass(frozen=True)
class PatientBookings:
    patient: m.Patient
    clinic: m.Clinic
    chairs: list[m.Chair]
    bookings: list[Booking]  # upcoming and recent, soonest first
    may_book: bool
    plan: m.TreatmentPlan | None


def patient_bookings(db: Session, who: CurrentUser, patient_id: uuid.UUID, now: datetime) -> PatientBookings:
    """The patient's bookings from 30 days ago on, and what the booking form needs."""
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, Action.READ_CHART, patient.clinic_id)
    clinic = db.get(m.Clinic, patient.clinic_id)
    assert clinic is not None
    chairs = list(
        db.scalars(
            select(m.Chair)
            .where(m.Chair.clinic_id == clinic.id, m.Chair.active.is_(True))
            .order_by(m.Chair.position)
        )
    )
    labels = {c.id: c.label for c in chairs}
    rows = db.scalars(
        select(m.Appointment)
        .where(m.Appointment.patient_id == patient.id, m.Appointment.starts_at >= now - timedelta(days=30))
        .order_by(m.Appointment.starts_at)
    ).all()
    name = f"{patient.given_name} {patient.family_name}"
    bookings = [
        Booking(
            a.id,
            patient.id,
            name,
            patient.mrn,
            a.kind,
            a.status,
            a.starts_at,
            a.ends_at,
            a.chair_id,
            labels.get(a.chair_id) if a.chair_id else None,
            a.version,
        )
        for a in rows
    ]
    plan = _active_plan(db, patient.id)
    record_read(
        db, who.actor(), "appointment.list", "patient", patient.id, clinic_id=clinic.id, patient_id=patient.id
    )
    return PatientBookings(patient, clinic, chairs, bookings, allowed(who, Action.BOOK, clinic.id), plan)


@dataclass(frozen=True)
class ChairRef:
    chair_id: uuid.UUID
    label: str


@dataclass(frozen=True)
class Day:
    day: date
    by_chair: dict[uuid.UUID, list[Booking]] = field(default_factory=dict)
    no_chair: list[Booking] = field(default_factory=list)  # consultations and follow-ups


@dataclass(frozen=True)
class Week:
    clinic: m.Clinic
    start: date
    chairs: list[ChairRef]
    days: list[Day]

    @property
    def previous_start(self) -> date:
        return self.start - timedelta(days=7)

    @property
    def next_start(self) -> date:
        return self.start + timedelta(days=7)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.timezone)


def week_start(value: str | date | None, clinic: m.Clinic, now: datetime) -> date:
    """The given day, or the Monday of this week in the clinic's time zone."""
    if value is None or (isinstance(value, str) and not value.strip()):
        today = now.astimezone(ZoneInfo(clinic.timezone)).date()
        return today - timedelta(days=today.weekday())
    if isinstance(value, date):
        return visit_day(value, "start", "Week")
    try:
        first = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"Write the week's first day as YYYY-MM-DD (for example 2026-11-30); got {value!r}."
        ) from None
    return visit_day(first, "start", "Week")


def week_view(db: Session, who: CurrentUser, code: str, start: str | date | None, now: datetime) -> Week:
    """Seven days from `start` x the clinic's chairs; two queries (chairs, bookings with names)."""
    clinic = clinic_for(db, who, code, Action.VIEW_SCHEDULE)
    first = week_start(start, clinic, now)
    zone = ZoneInfo(clinic.timezone)
    bounds = [datetime.combine(first + timedelta(days=i), time(0), zone).astimezone(UTC) for i in range(8)]
    chairs = [
        ChairRef(c.id, c.label)
        for c in db.scalars(select(m.Chair).where(m.Chair.clinic_id == clinic.id).order_by(m.Chair.position))
    ]
    labels = {c.chair_id: c.label for c in chairs}
    rows = db.execute(
        select(m.Appointment, m.Patient.given_name, m.Patient.family_name, m.Patient.mrn)
        .join(m.Patient, m.Patient.id == m.Appointment.patient_id)
        .where(
            m.Appointment.clinic_id == clinic.id,
            m.Appointment.starts_at >= bounds[0],
            m.Appointment.starts_at < bounds[7],
        )
        .order_by(m.Appointment.starts_at)
    ).all()
    days = [Day(first + timedelta(days=i), {c.chair_id: [] for c in chairs}, []) for i in range(7)]
    for appt, given, family, mrn in rows:
        local_day = appt.starts_at.astimezone(zone).date()
        day = days[(local_day - first).days]
        b = Booking(
            appt.id,
            appt.patient_id,
            f"{given} {family}",
            mrn,
            appt.kind,
            appt.status,
            appt.starts_at,
            appt.ends_at,
            appt.chair_id,
            labels.get(appt.chair_id) if appt.chair_id else None,
            appt.version,
        )
        if appt.chair_id is not None and appt.chair_id in day.by_chair:
            day.by_chair[appt.chair_id].append(b)
        else:
            day.no_chair.append(b)
    record_read(
        db,
        who.actor(),
        "schedule.week",
        "clinic",
        clinic.id,
        clinic_id=clinic.id,
        details={"start": first.isoformat(), "bookings": len(rows)},
    )
    return Week(clinic, first, chairs, days)


@dataclass(frozen=True)
class DayUse:
    day: date
    booked_chair_hours: float
    open_chair_hours: float | None  # None: the model has no opening hours
    use_fraction: float | None


def chair_use(week: Week) -> list[DayUse]:
    """Booked chair-hours per day (cancelled and no-show bookings excluded, clipped to the day).

    The share of open chair-hours cannot be computed: clinics have no opening hours in the
    model yet, so `open_chair_hours` and `use_fraction` are None until they do.
    """
    zone = week.zone
    out = []
    for d in week.days:
        lo = datetime.combine(d.day, time(0), zone)
        hi = datetime.combine(d.day + timedelta(days=1), time(0), zone)
        hours = 0.0
        for bookings in d.by_chair.values():
            for b in bookings:
                if b.active:
                    overlap = min(b.ends_at, hi) - max(b.starts_at, lo)
                    hours += max(overlap.total_seconds(), 0.0) / 3600
        out.append(DayUse(d.day, round(hours, 2), None, None))
    return out


def bookings_by_day(week: Week) -> dict[date, list[Booking]]:
    """Every booking of the week per day, soonest first (for lists and the API)."""
    out: dict[date, list[Booking]] = defaultdict(list)
    for d in week.days:
        items = [b for bs in d.by_chair.values() for b in bs] + d.no_chair
        out[d.day] = sorted(items, key=lambda b: b.starts_at)
    return out
