"""The director's page: today's board in brief, the week's bookings and chair use per day.

Counts only (no patient names shown): today's summary reuses `board.chair_board`, the
week reuses `booking.week_view`, aggregated per local day. Available chair-hours come from
the clinic's own opening hours less its closures (`services.clinic_hours.calendar_of`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaflow.hours import ClinicCalendar
from ketaflow.services import board as boards
from ketaflow.services import booking
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinic_hours import calendar_of
from ketaflow.services.clinics import clinic_for
from ketaflow.services.controlled import LotReport, expiring_lots, lot_reports
from ketaflow.services.permissions import Action, allowed
from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus

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
    hours: str = ""  # the day's opening hours as shown ("08:00–18:30", "closed")
    closure: str | None = None  # why the clinic is closed that day, when a closure says so

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
    opening_hours: str
    notes: list[str] = field(default_factory=list)
    # Controlled-substance lots expired or expiring soon with stock left, and lots whose latest
    # count differs from the ledger; None when the viewer may not see the stock (an admin).
    expiring_lots: list[LotReport] | None = None
    discrepant_lots: list[LotReport] | None = None

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


def opening_hours_text(calendar: ClinicCalendar, days: list[date]) -> str:
    """The sentence under the chart saying what "available" means for this week."""
    closed = [c for c in calendar.closures if any(c.covers(d) for d in days)]
    closures = "".join(f"; closed {c.when()} ({c.reason})" for c in closed)
    return (
        f"Chair use counts every active chair as available during the clinic's opening hours "
        f"({calendar.week.summary()}{closures}), clinic local time; opening hours are a clinic "
        "setting, not a clinical figure."
    )


def week_use(week: booking.Week, active_chairs: int, calendar: ClinicCalendar) -> list[DayUse]:
    """Bookings and chair use per local day of `booking.week_view`'s week.

    Available chair-hours are the active chairs times the hours the clinic is open that day
    (its weekly hours, none on a closure; elapsed time, so a day the clocks change has an
    hour more or less). Booked chair-hours count bookings in a chair that still hold it (not
    cancelled or no-show), clipped to the open hours, so the share of available hours stays
    <= 100 % unless chairs are double-booked. (`booking.chair_use` clips to the whole day and
    has no denominator, hence this.)
    """
    out = []
    for d in week.days:
        in_chairs = [b for bs in d.by_chair.values() for b in bs]
        every = in_chairs + d.no_chair
        intervals = calendar.open_intervals(d.day)
        closure = calendar.closure_on(d.day)
        hours = sum(
            _overlap_hours(b.starts_at, b.ends_at, opens, closes)
            for b in in_chairs
            if b.active
            for opens, closes in intervals
        )
        open_hours = sum((closes - opens).total_seconds() for opens, closes in intervals) / 3600
        out.append(
            DayUse(
                day=d.day,
                open=bool(intervals),
                infusions=sum(1 for b in every if b.kind == AppointmentKind.INFUSION),
                other=sum(1 for b in every if b.kind != AppointmentKind.INFUSION),
                completed=sum(1 for b in every if b.status == AppointmentStatus.COMPLETED),
                cancelled_or_no_show=sum(1 for b in every if not b.active),
                booked_hours=round(hours, 2),
                available_hours=round(active_chairs * open_hours, 2),
                hours=f"closed ({closure.reason})" if closure else calendar.week.day_text(d.day.weekday()),
                closure=closure.reason if closure else None,
            )
        )
    return out


def director_view(
    db: Session, who: CurrentUser, code: str, now: datetime, week_start: date | None = None
) -> DirectorView:
    """Today's board in brief, and the week's bookings and chair use (admin and director)."""
    clinic = clinic_for(db, who, code, Action.VIEW_CLINIC_DASHBOARD)  # another clinic's staff: 403
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
    days = [start + timedelta(days=i) for i in range(7)]
    calendar = calendar_of(db, clinic, first=days[0], last=days[-1])
    lots = lot_reports(db, clinic.id) if allowed(who, Action.VIEW_CONTROLLED, clinic.id) else None
    return DirectorView(
        clinic=clinic,
        today=today,
        week_start=start,
        days=week_use(booking.week_view(db, who, clinic.code, start, now), active, calendar),
        active_chairs=active,
        opening_hours=opening_hours_text(calendar, days),
        expiring_lots=None if lots is None else expiring_lots(lots, today.day),
        discrepant_lots=None if lots is None else [r for r in lots if r.balance.discrepancy_mg],
    )
