"""The director's chair use is computed from the clinic's real opening hours and closures: the
same bookings are a larger share of a shorter day. Expected figures are worked out by hand.

A clinic of our own (tests/factories.py) with 4 active chairs, on both engines, inside a
transaction that is rolled back after each test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.services import clinic_hours, director
from ketaflow.services.auth import CurrentUser
from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus, Role, Sex
from tests.factories import make_clinic, make_staff

CHICAGO = ZoneInfo("America/Chicago")
MONDAY = date(2033, 5, 2)
TUESDAY, WEDNESDAY = MONDAY + timedelta(days=1), MONDAY + timedelta(days=2)
NOW = datetime.combine(MONDAY, time(7, 0), CHICAGO).astimezone(UTC)
WEEKDAYS_ONLY = {"saturday": "closed", "sunday": "closed"}


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), CHICAGO).astimezone(UTC)


def setting_up(db: Session) -> tuple[m.Clinic, CurrentUser]:
    clinic = make_clinic(db)
    for k in range(4):
        db.add(m.Chair(clinic_id=clinic.id, label=f"Chair {k + 1}", position=k, active=True))
    db.add(m.Chair(clinic_id=clinic.id, label="Spare", position=9, active=False))  # not counted
    boss = make_staff(db, clinic, Role.DIRECTOR)
    db.flush()
    who = CurrentUser(boss, None, {str(clinic.id): {Role.DIRECTOR}})  # type: ignore[arg-type]
    return clinic, who


def booking(db: Session, clinic: m.Clinic, chair: m.Chair, starts: datetime, ends: datetime) -> None:
    patient = m.Patient(
        organization_id=clinic.organization_id,
        clinic_id=clinic.id,
        mrn=f"H{starts:%d%H%M}{chair.position}",
        given_name="Hana",
        family_name="Hours",
        date_of_birth=date(1980, 1, 1),
        sex=Sex.FEMALE,
    )
    db.add(patient)
    db.flush()
    db.add(
        m.Appointment(
            clinic_id=clinic.id,
            patient_id=patient.id,
            chair_id=chair.id,
            kind=AppointmentKind.INFUSION,
            starts_at=starts,
            ends_at=ends,
            status=AppointmentStatus.BOOKED,
        )
    )
    db.flush()


def set_week(db: Session, who: CurrentUser, clinic: m.Clinic, weekdays: str) -> None:
    week = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday"), weekdays) | WEEKDAYS_ONLY
    clinic_hours.set_hours(db, who, clinic.code, week=week, expected_version=clinic.version, now=NOW)


def test_fewer_open_hours_make_the_same_bookings_a_larger_share(db: Session) -> None:
    clinic, who = setting_up(db)
    chairs = list(
        db.scalars(
            select(m.Chair)
            .where(m.Chair.clinic_id == clinic.id, m.Chair.active.is_(True))
            .order_by(m.Chair.position)
        )
    )
    # Tuesday: chair 1 09:00-12:30 and 12:30-16:00, chair 2 09:00-12:30: 3 x 3.5 = 10.5 chair-hours.
    booking(db, clinic, chairs[0], local(TUESDAY, 9), local(TUESDAY, 12, 30))
    booking(db, clinic, chairs[0], local(TUESDAY, 12, 30), local(TUESDAY, 16))
    booking(db, clinic, chairs[1], local(TUESDAY, 9), local(TUESDAY, 12, 30))

    set_week(db, who, clinic, "08:00-18:30")  # 10.5 h a weekday
    long_days = director.director_view(db, who, clinic.code, NOW)
    tue = long_days.days[1]
    assert tue.day == TUESDAY and tue.booked_hours == 10.5
    assert tue.available_hours == 4 * 10.5  # 42 chair-hours: four active chairs, the spare not counted
    assert tue.use_percent == 25.0  # 10.5 / 42
    assert long_days.week_available_hours == 5 * 42 and long_days.week_use_percent == 5.0  # 10.5 / 210
    assert "Mon–Fri 08:00–18:30; closed Sat, Sun" in long_days.opening_hours

    db.refresh(clinic)
    set_week(db, who, clinic, "09:00-16:00")  # 7 h a weekday: the same bookings, a shorter day
    short_days = director.director_view(db, who, clinic.code, NOW)
    tue = short_days.days[1]
    assert tue.booked_hours == 10.5 and tue.available_hours == 4 * 7  # 28 chair-hours
    assert tue.use_percent == 37.5  # 10.5 / 28, up from 25 %
    assert short_days.week_available_hours == 140 and short_days.week_use_percent == 7.5  # 10.5 / 140
    assert tue.hours == "09:00–16:00" and short_days.days[5].hours == "closed"
    assert "Mon–Fri 09:00–16:00" in short_days.opening_hours


def test_a_closure_takes_the_day_out_of_the_available_hours(db: Session) -> None:
    clinic, who = setting_up(db)
    chair = db.scalars(
        select(m.Chair).where(m.Chair.clinic_id == clinic.id, m.Chair.label == "Chair 1")
    ).one()
    set_week(db, who, clinic, "08:00-12:00, 13:00-18:30")  # a lunch hour: 9.5 h a weekday
    # Wednesday is closed for training; a booking made before the closure still shows as a booking.
    booking(db, clinic, chair, local(WEDNESDAY, 9), local(WEDNESDAY, 12, 30))
    # Tuesday 11:00-14:30 holds the chair over lunch: only 1 h + 1.5 h fall inside the hours.
    booking(db, clinic, chair, local(TUESDAY, 11), local(TUESDAY, 14, 30))
    _entry, unfit = clinic_hours.add_closure(
        db, who, clinic.code, first_day=WEDNESDAY, reason="Staff training", now=NOW
    )
    assert [u.starts_at for u in unfit] == [local(WEDNESDAY, 9)]  # the Wednesday booking, to be moved
    assert "closed on Wed 04 May 2033 (Staff training)" in unfit[0].problem
    view = director.director_view(db, who, clinic.code, NOW)
    tue, wed = view.days[1], view.days[2]
    assert (
        tue.booked_hours == 2.5
        and tue.available_hours == 4 * 9.5
        and tue.use_percent == round(100 * 2.5 / 38, 1)
    )
    assert wed.open is False and wed.available_hours == 0 and wed.use_percent is None and wed.infusions == 1
    assert wed.closure == "Staff training" and wed.hours == "closed (Staff training)"
    assert view.week_available_hours == 4 * 38  # four open weekdays of 38 chair-hours
    assert "closed on Wed 04 May 2033 (Staff training)" in view.opening_hours


def test_a_clock_change_day_has_its_real_length(db: Session) -> None:
    clinic, who = setting_up(db)
    every_day = dict.fromkeys(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), "00:00-24:00"
    )
    clinic_hours.set_hours(db, who, clinic.code, week=every_day, expected_version=clinic.version, now=NOW)
    # The week of Monday 31 October 2033: the clocks go back on its Sunday, 6 November (25 hours).
    view = director.director_view(db, who, clinic.code, NOW, date(2033, 10, 31))
    sunday = view.days[6]
    assert sunday.day == date(2033, 11, 6) and sunday.available_hours == 4 * 25
    assert [d.available_hours for d in view.days[:6]] == [4 * 24] * 6


def test_each_day_carries_its_hours(db: Session) -> None:
    clinic, who = setting_up(db)
    set_week(db, who, clinic, "07:00-19:00")
    view = director.director_view(db, who, clinic.code, NOW)
    assert [d.hours for d in view.days] == ["07:00–19:00"] * 5 + ["closed"] * 2
    assert [d.available_hours for d in view.days] == [48.0] * 5 + [0.0] * 2
