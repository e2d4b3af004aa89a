"""The director's page: today's board in brief, the week's bookings and chair use per day.

Counts only (no patient names): today's summary reuses `board.chair_board`; the week is
one query over the clinic's appointments, aggregated per local day.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaflow.errors import NotFound
from ketaflow.services import board as boards
from ketaflow.services.auth import CurrentUser
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus

# Opening hours used for "available chair-hours". A CLINIC SETTING, not a clinical number:
# there is no per-clinic opening-hours column yet, so every clinic is assumed open 08:00-18:30
# local time, Monday to Friday -- the span of the three 3.5-hour chair slots (08:00, 11:30,
# 15:00) the demo network books (ketaflow.demo.schedule). Change here until clinics carry it.
OPENS = time(8, 0)
CLOSES = time(18, 30)
OPEN_WEEKDAYS = frozenset({0, 1, 2, 3, 4})
OPENING_HOURS_TEXT = (
    "Chair use assumes every active chair is available 08:00–18:30 (10.5 h), Monday to Friday, "
    "clinic local time; a clinic setting, not a clinical figure."
)

# Bookings that do not hold a chair (the patient never came or the booking was cancelled).
_NOT_HOLDING = {AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW}
_BUSY_STATES = {"running", "paused", "stopped", "not started", "checked in"}


@dataclass(frozen=True)
class Alert:
    chair: str
    level: str
    messages: tuple[str, ...]


@dataclass(frozen=True)
class Today:
    day: date
    chairs: int
    busy: int
    free: int
    running: int
    recovering: int
    alerts: list[Alert]
    open_requests: int
    # Today's infusion appointments by status (one grouped query).
    done: int
    in_chair: int
    checked_in: int
    booked: int
    no_show: int
    cancelled: int


@dataclass(frozen=True)
class DayUse:
    day: date
    open: bool
    infusions: int
    other: int
    completed: int
    cancelled_or_no_show: int
    booked_hours: float
    available_hours: float

    @property
    def use_percent(self) -> float | None:
        if self.available_hours <= 0:
            return None
        return round(100 * self.booked_hours / self.available_hours, 1)


@dataclass(frozen=True)
class DirectorView:
    clinic: m.Clinic
    today: Today
    week_start: date
    days: list[DayUse]
    active_chairs: int
    opening_hours: str = OPENING_HOURS_TEXT
    notes: list[str] = field(default_factory=list)

    @property
    def week_booked_hours(self) -> float:
        return round(sum(d.booked_hours for d in self.days), 2)

    @property
    def week_available_hours(self) -> float:
        return round(sum(d.available_hours for d in self.days), 2)

    @property
    def week_use_percent(self) -> float | None:
        avail = self.week_available_hours
        return round(100 * self.week_booked_hours / avail, 1) if avail > 0 else None


def _clinic(db: Session, who: CurrentUser, code: str) -> m.Clinic:
    clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == code))
    if clinic is None:
        raise NotFound(f"There is no clinic {code!r}.")
    require(who, Action.VIEW_CLINIC_DASHBOARD, clinic.id)  # another clinic's staff: 403
    return clinic


def _today(db: Session, who: CurrentUser, clinic: m.Clinic, now: datetime) -> Today:
    b = boards.chair_board(db, who, clinic.code, now)
    busy = [c for c in b.chairs if c.now is not None and c.now.state in _BUSY_STATES]
    alerts = [
        Alert(c.label, c.now.last_vitals.level, c.now.last_vitals.alerts)
        for c in busy
        if c.now is not None and c.now.last_vitals is not None and c.now.last_vitals.level != "normal"
    ]
    slots = [c.now for c in b.chairs if c.now is not None] + list(b.unassigned)
    zone = ZoneInfo(clinic.timezone)
    start = datetime.combine(b.day, time(0), zone)
    grouped = db.execute(
        select(m.Appointment.status, func.count())
        .where(
            m.Appointment.clinic_id == clinic.id,
            m.Appointment.kind == AppointmentKind.INFUSION,
            m.Appointment.starts_at >= start,
            m.Appointment.starts_at < start + timedelta(days=1),
        )
        .group_by(m.Appointment.status)
    )
    counts: dict[str, int] = {str(status): int(n) for status, n in grouped}
    return Today(
        day=b.day,
        chairs=len(b.chairs),
        busy=len(busy),
        free=len(b.chairs) - len(busy),
        running=sum(1 for c in busy if c.now is not None and c.now.state in {"running", "paused"}),
        recovering=sum(1 for c in busy if c.now is not None and c.now.state == "stopped"),
        alerts=alerts,
        open_requests=sum(len(s.open_requests) for s in slots),
        done=counts.get(AppointmentStatus.COMPLETED, 0),
        in_chair=counts.get(AppointmentStatus.IN_CHAIR, 0),
        checked_in=counts.get(AppointmentStatus.CHECKED_IN, 0),
        booked=counts.get(AppointmentStatus.BOOKED, 0),
        no_show=counts.get(AppointmentStatus.NO_SHOW, 0),
        cancelled=counts.get(AppointmentStatus.CANCELLED, 0),
    )


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _overlap_hours(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> float:
    return max(0.0, (min(a1, b1) - max(a0, b0)).total_seconds() / 3600)


def week_use(db: Session, clinic: m.Clinic, week_start: date, active_chairs: int) -> list[DayUse]:
    """Bookings and chair use per local day of the week from `week_start` (one query)."""
    zone = ZoneInfo(clinic.timezone)
    first = datetime.combine(week_start, time(0), zone)
    rows = db.execute(
        select(
            m.Appointment.starts_at,
            m.Appointment.ends_at,
            m.Appointment.status,
            m.Appointment.kind,
            m.Appointment.chair_id,
        ).where(
            m.Appointment.clinic_id == clinic.id,
            m.Appointment.starts_at >= first,
            m.Appointment.starts_at < datetime.combine(week_start + timedelta(days=7), time(0), zone),
        )
    ).all()
    infusions: Counter[date] = Counter()
    other: Counter[date] = Counter()
    completed: Counter[date] = Counter()
    dropped: Counter[date] = Counter()
    hours: defaultdict[date, float] = defaultdict(float)
    for starts, ends, status, kind, chair_id in rows:
        starts = starts if starts.tzinfo else starts.replace(tzinfo=UTC)
        ends = ends if ends.tzinfo else ends.replace(tzinfo=UTC)
        day = starts.astimezone(zone).date()
        (infusions if kind == AppointmentKind.INFUSION else other)[day] += 1
        if status == AppointmentStatus.COMPLETED:
            completed[day] += 1
        if status in _NOT_HOLDING:
            dropped[day] += 1
            continue
        if chair_id is not None and day.weekday() in OPEN_WEEKDAYS:
            opens = datetime.combine(day, OPENS, zone)
            closes = datetime.combine(day, CLOSES, zone)
            hours[day] += _overlap_hours(starts, ends, opens, closes)
    open_hours = (datetime.combine(week_start, CLOSES) - datetime.combine(week_start, OPENS)).seconds / 3600
    out = []
    for i in range(7):
        day = week_start + timedelta(days=i)
        is_open = day.weekday() in OPEN_WEEKDAYS
        out.append(
            DayUse(
                day=day,
                open=is_open,
                infusions=infusions[day],
                other=other[day],
                completed=completed[day],
                cancelled_or_no_show=dropped[day],
                booked_hours=round(hours[day], 2),
                available_hours=active_chairs * open_hours if is_open else 0.0,
            )
        )
    return out


def director_view(
    db: Session, who: CurrentUser, code: str, now: datetime, week_start: date | None = None
) -> DirectorView:
    """Today's board in brief, and the week's bookings and chair use (admin and director)."""
    clinic = _clinic(db, who, code)
    today = _today(db, who, clinic, now)
    active = (
        db.scalar(
            select(func.count())
            .select_from(m.Chair)
            .where(m.Chair.clinic_id == clinic.id, m.Chair.active.is_(True))
        )
        or 0
    )
    start = week_start_of(week_start or today.day)
    return DirectorView(
        clinic=clinic,
        today=today,
        week_start=start,
        days=week_use(db, clinic, start, active),
        active_chairs=active,
    )
