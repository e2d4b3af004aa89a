"""A clinic's opening hours, closures and booking horizon: read by everyone at the clinic, set by
its director or an administrator (permissions.SET_CLINIC_HOURS).

The rules (what fits, the sentences) are pure, in `ketaflow.hours`; this module loads and
stores them. Changing the hours or adding a closure never moves or cancels a booking: the
answer lists the bookings still to come that no longer fit, for the front desk to move.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from ketaflow.errors import NotFound, Problems, invalid
from ketaflow.hours import HORIZON_RANGE_DAYS, ClinicCalendar, Closure, WeeklyHours, parse_closure, parse_week
from ketaflow.services.audit import record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinics import clinic_for
from ketaflow.services.permissions import Action, allowed
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write, lock_row
from ketaflow.store.versioning import apply_edit
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus

# Bookings that still have to happen, and so must fit the hours.
STILL_TO_COME = (AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN)
KIND_LABEL = {
    AppointmentKind.CONSULTATION: "consultation",
    AppointmentKind.INFUSION: "infusion",
    AppointmentKind.FOLLOW_UP: "follow-up",
}


def weekly_hours(db: Session, clinic_id: uuid.UUID) -> WeeklyHours:
    rows = db.execute(
        select(m.ClinicHours.weekday, m.ClinicHours.opens_min, m.ClinicHours.closes_min).where(
            m.ClinicHours.clinic_id == clinic_id
        )
    ).tuples()
    return WeeklyHours.from_rows(rows)


def calendar_of(
    db: Session, clinic: m.Clinic, first: date | None = None, last: date | None = None
) -> ClinicCalendar:
    """The clinic's weekly hours and its closures touching `first`..`last` (every one when not given)."""
    stmt = select(m.ClinicClosure).where(m.ClinicClosure.clinic_id == clinic.id)
    if first is not None:
        stmt = stmt.where(m.ClinicClosure.last_day >= first)
    if last is not None:
        stmt = stmt.where(m.ClinicClosure.first_day <= last)
    closures = tuple(
        Closure(c.first_day, c.last_day, c.reason)
        for c in db.scalars(stmt.order_by(m.ClinicClosure.first_day, m.ClinicClosure.last_day))
    )
    return ClinicCalendar(
        name=clinic.name,
        zone=ZoneInfo(clinic.timezone),
        week=weekly_hours(db, clinic.id),
        closures=closures,
        horizon_days=clinic.booking_horizon_days,
    )


@dataclass(frozen=True)
class ClosureEntry:
    id: uuid.UUID
    first_day: date
    last_day: date
    reason: str
    created_at: datetime

    @property
    def closure(self) -> Closure:
        return Closure(self.first_day, self.last_day, self.reason)


def _entry(row: m.ClinicClosure) -> ClosureEntry:
    return ClosureEntry(row.id, row.first_day, row.last_day, row.reason, row.created_at)


@dataclass(frozen=True)
class ClinicHoursView:
    clinic: m.Clinic
    week: WeeklyHours
    closures: list[ClosureEntry]  # those not yet over, soonest first
    today: date
    bookable_until: date
    may_edit: bool


def _view(db: Session, who: CurrentUser, clinic: m.Clinic, now: datetime) -> ClinicHoursView:
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    calendar = calendar_of(db, clinic, first=today)
    rows = db.scalars(
        select(m.ClinicClosure)
        .where(m.ClinicClosure.clinic_id == clinic.id, m.ClinicClosure.last_day >= today)
        .order_by(m.ClinicClosure.first_day, m.ClinicClosure.last_day)
    )
    return ClinicHoursView(
        clinic=clinic,
        week=calendar.week,
        closures=[_entry(r) for r in rows],
        today=today,
        bookable_until=calendar.last_bookable_day(today),
        may_edit=allowed(who, Action.SET_CLINIC_HOURS, clinic.id),
    )


def hours_view(db: Session, who: CurrentUser, code: str, now: datetime) -> ClinicHoursView:
    """The clinic's weekly hours, closures to come and booking horizon (everyone at the clinic)."""
    clinic = clinic_for(db, who, code, Action.VIEW_SCHEDULE)
    view = _view(db, who, clinic, now)
    record_read(db, who.actor(), "clinic.hours", "clinic", clinic.id, clinic_id=clinic.id)
    return view


@dataclass(frozen=True)
class Unfit:
    """A booking still to come that the clinic's hours or closures no longer allow."""

    appointment_id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    chair_label: str | None
    problem: str


def _unfit(
    db: Session, clinic: m.Clinic, now: datetime, first: date | None = None, last: date | None = None
) -> list[Unfit]:
    """Bookings from `now` on (within `first`..`last` local days when given) that do not fit."""
    zone = ZoneInfo(clinic.timezone)
    calendar = calendar_of(db, clinic)
    stmt = (
        select(m.Appointment, m.Patient.given_name, m.Patient.family_name, m.Chair.label)
        .join(m.Patient, m.Patient.id == m.Appointment.patient_id)
        .outerjoin(m.Chair, m.Chair.id == m.Appointment.chair_id)
        .where(
            m.Appointment.clinic_id == clinic.id,
            m.Appointment.status.in_(STILL_TO_COME),
            m.Appointment.starts_at > now,
        )
        .order_by(m.Appointment.starts_at)
    )
    if first is not None:
        stmt = stmt.where(m.Appointment.ends_at > datetime.combine(first, time(0), zone))
    if last is not None:
        stmt = stmt.where(m.Appointment.starts_at < datetime.combine(last + timedelta(days=1), time(0), zone))
    out = []
    for appt, given, family, chair in db.execute(stmt).tuples():
        problem = calendar.misfit(appt.starts_at, appt.ends_at, KIND_LABEL[AppointmentKind(appt.kind)])
        if problem is not None:
            out.append(
                Unfit(
                    appt.id,
                    appt.patient_id,
                    f"{given} {family}",
                    appt.kind,
                    appt.starts_at,
                    appt.ends_at,
                    chair,
                    problem.message,
                )
            )
    return out


def _hold(db: Session, clinic: m.Clinic) -> None:
    """Lock the clinic's row until commit (PostgreSQL): bookings share-lock it while they check
    the hours, so hours and closures never change under a booking being checked."""
    lock_row(db, m.Clinic, clinic.id)


def _horizon(value: int | str | None, current: int) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return current
    lo, hi = HORIZON_RANGE_DAYS
    try:
        days = int(value)
    except ValueError:
        raise invalid(
            "booking_horizon_days", f"The booking horizon is a number of days; got {value!r}."
        ) from None
    if not lo <= days <= hi:
        raise invalid(
            "booking_horizon_days",
            f"The booking horizon must be between {lo} and {hi} days; got {days}.",
        )
    return days


def set_hours(
    db: Session,
    who: CurrentUser,
    code: str,
    *,
    week: WeeklyHours | Mapping[str, object],
    expected_version: int,
    booking_horizon_days: int | str | None = None,
    now: datetime,
) -> tuple[ClinicHoursView, list[Unfit]]:
    """Replace the clinic's weekly hours (every day given) and, if given, its booking horizon.

    Guarded by the clinic's version: a stale form is refused. Existing bookings are kept;
    those still to come that the new hours leave outside are returned.
    """
    begin_write(db)
    clinic = clinic_for(db, who, code, Action.SET_CLINIC_HOURS)
    _hold(db, clinic)
    if clinic.version != expected_version:  # the clear message before reading the week
        apply_edit(db, clinic, expected_version=expected_version)
    found = Problems()  # the week's and the horizon's mistakes at once
    new_week = week if isinstance(week, WeeklyHours) else found.check(lambda: parse_week(week))  # type: ignore[arg-type]
    horizon = found.check(lambda: _horizon(booking_horizon_days, clinic.booking_horizon_days))
    found.raise_any()
    assert new_week is not None and horizon is not None
    before = weekly_hours(db, clinic.id)
    db.execute(delete(m.ClinicHours).where(m.ClinicHours.clinic_id == clinic.id))
    db.add_all(
        m.ClinicHours(clinic_id=clinic.id, weekday=w, opens_min=opens, closes_min=closes)
        for w, opens, closes in new_week.rows()
    )
    apply_edit(db, clinic, expected_version=expected_version, booking_horizon_days=horizon)
    flag_modified(clinic, "booking_horizon_days")  # a new version even when only the hours changed
    db.flush()
    unfit = _unfit(db, clinic, now)
    record(
        db,
        who.actor(),
        "clinic.set_hours",
        "clinic",
        clinic.id,
        clinic_id=clinic.id,
        details={
            "before": before.data(),
            "after": new_week.data(),
            "booking_horizon_days": horizon,
            "bookings_outside": [str(u.appointment_id) for u in unfit],
        },
    )
    db.commit()
    return _view(db, who, clinic, now), unfit


def add_closure(
    db: Session,
    who: CurrentUser,
    code: str,
    *,
    first_day: str | date | None,
    last_day: str | date | None = None,
    reason: str,
    now: datetime,
) -> tuple[ClosureEntry, list[Unfit]]:
    """Close the clinic from `first_day` to `last_day` (inclusive; one day when no last day).

    Bookings already made on those days stay; they are returned so they can be moved.
    """
    begin_write(db)
    clinic = clinic_for(db, who, code, Action.SET_CLINIC_HOURS)
    _hold(db, clinic)
    closure = parse_closure(first_day, last_day, reason)
    row = m.ClinicClosure(
        clinic_id=clinic.id,
        first_day=closure.first_day,
        last_day=closure.last_day,
        reason=closure.reason,
        created_at=now,
        created_by_id=who.user.id,
    )
    db.add(row)
    db.flush()
    unfit = _unfit(db, clinic, now, closure.first_day, closure.last_day)
    record(
        db,
        who.actor(),
        "clinic.add_closure",
        "clinic_closure",
        row.id,
        clinic_id=clinic.id,
        details={
            "first_day": closure.first_day.isoformat(),
            "last_day": closure.last_day.isoformat(),
            "reason": closure.reason,
            "bookings_inside": [str(u.appointment_id) for u in unfit],
        },
    )
    db.commit()
    return _entry(row), unfit


def remove_closure(
    db: Session, who: CurrentUser, code: str, closure_id: uuid.UUID, *, now: datetime
) -> ClosureEntry:
    """Take a closure away (one entered by mistake, or a day the clinic opens after all)."""
    begin_write(db)
    clinic = clinic_for(db, who, code, Action.SET_CLINIC_HOURS)
    _hold(db, clinic)
    row = db.get(m.ClinicClosure, closure_id)
    if row is None or row.clinic_id != clinic.id:
        raise NotFound(f"{clinic.name} has no such closure; reload the list of closures.")
    gone = _entry(row)
    db.delete(row)
    record(
        db,
        who.actor(),
        "clinic.remove_closure",
        "clinic_closure",
        gone.id,
        clinic_id=clinic.id,
        details={
            "first_day": gone.first_day.isoformat(),
            "last_day": gone.last_day.isoformat(),
            "reason": gone.reason,
            "removed_at": now.isoformat(),
        },
    )
    db.commit()
    return gone
