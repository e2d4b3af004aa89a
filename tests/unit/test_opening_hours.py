"""The pure opening-hours rules (ketaflow.hours): clock changes on the real 2026/2027 dates, closures,
the edges of the hours, hours past midnight, the booking horizon, and reading hours as typed.

The expected transition times are the US rules (second Sunday of March, 02:00 local, clocks
forward; first Sunday of November, 02:00 local, clocks back), and for Europe/London the EU
rule (last Sunday of March and October, 01:00 UTC); checked here by hand, not by zoneinfo.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ketaflow.errors import InvalidInput
from ketaflow.hours import (
    DEFAULT_WEEK,
    ClinicCalendar,
    Closure,
    Span,
    WeeklyHours,
    duration,
    local_instant,
    parse_closure,
    parse_day,
    parse_week,
)
from ketaflow.hours.local_time import ambiguous, exists

CHICAGO = ZoneInfo("America/Chicago")
DENVER = ZoneInfo("America/Denver")
PHOENIX = ZoneInfo("America/Phoenix")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def refusal(call: object, *args: object, **kwargs: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


# ---- clock changes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "gap_from", "gap_to"),
    [
        (CHICAGO, date(2026, 3, 8), "02:00", "03:00"),
        (CHICAGO, date(2027, 3, 14), "02:00", "03:00"),
        (NEW_YORK, date(2026, 3, 8), "02:00", "03:00"),
        (DENVER, date(2027, 3, 14), "02:00", "03:00"),
        (LONDON, date(2026, 3, 29), "01:00", "02:00"),
        (LONDON, date(2027, 3, 28), "01:00", "02:00"),
    ],
)
def test_a_time_in_the_spring_forward_gap_is_refused_with_the_times_to_choose(
    zone: ZoneInfo, day: date, gap_from: str, gap_to: str
) -> None:
    inside = (datetime.combine(day, time.fromisoformat(gap_from)) + timedelta(minutes=30)).time()
    err = refusal(local_instant, day, inside, zone)
    assert err.field == "start"
    assert err.message == (
        f"{inside:%H:%M} on {day:%a %d %b %Y} does not exist in {zone.key}: the clocks go forward from "
        f"{gap_from} to {gap_to} that night. Choose a time before {gap_from} or from {gap_to} on."
    )
    # The first minute of the gap is refused too; the minute before and the first after are not.
    start = time.fromisoformat(gap_from)
    refusal(local_instant, day, start, zone)
    before = (datetime.combine(day, start) - timedelta(minutes=1)).time()
    after = time.fromisoformat(gap_to)
    a, b = local_instant(day, before, zone), local_instant(day, after, zone)
    assert b - a == timedelta(minutes=1)  # one minute apart on the clock that night: the hour is gone


@pytest.mark.parametrize(
    ("zone", "day", "twice_from", "twice_to"),
    [
        (CHICAGO, date(2026, 11, 1), "01:00", "02:00"),
        (CHICAGO, date(2027, 11, 7), "01:00", "02:00"),
        (NEW_YORK, date(2026, 11, 1), "01:00", "02:00"),
        (LONDON, date(2026, 10, 25), "01:00", "02:00"),
        (LONDON, date(2027, 10, 31), "01:00", "02:00"),
    ],
)
def test_a_time_in_the_fall_back_overlap_is_refused(
    zone: ZoneInfo, day: date, twice_from: str, twice_to: str
) -> None:
    inside = (datetime.combine(day, time.fromisoformat(twice_from)) + timedelta(minutes=30)).time()
    err = refusal(local_instant, day, inside, zone)
    assert err.field == "start" and err.message == (
        f"{inside:%H:%M} on {day:%a %d %b %Y} happens twice in {zone.key}: the clocks go back from "
        f"{twice_to} to {twice_from} that night. Choose a time before {twice_from} or from {twice_to} on."
    )
    refusal(local_instant, day, time.fromisoformat(twice_from), zone)
    # The minute before the overlap and its end exist once: two hours apart in real time, not one.
    before = (datetime.combine(day, time.fromisoformat(twice_from)) - timedelta(minutes=1)).time()
    a, b = local_instant(day, before, zone), local_instant(day, time.fromisoformat(twice_to), zone)
    assert b - a == timedelta(hours=2, minutes=1)


def test_an_ordinary_time_is_the_instant_the_clock_shows() -> None:
    # 10:00 CDT (UTC-5) in July, 10:00 CST (UTC-6) in January; Phoenix keeps MST (UTC-7) all year.
    assert local_instant(date(2026, 7, 14), time(10), CHICAGO) == datetime(2026, 7, 14, 15, 0, tzinfo=UTC)
    assert local_instant(date(2027, 1, 12), time(10), CHICAGO) == datetime(2027, 1, 12, 16, 0, tzinfo=UTC)
    assert local_instant(date(2027, 3, 14), time(2, 30), PHOENIX) == datetime(2027, 3, 14, 9, 30, tzinfo=UTC)
    assert exists(datetime(2027, 3, 14, 2, 30), PHOENIX) and not ambiguous(
        datetime(2027, 11, 7, 1, 30), PHOENIX
    )


# ---- reading hours ----------------------------------------------------------------------------


def test_hours_are_read_as_typed() -> None:
    assert parse_day("08:00-18:30", 0) == (Span(480, 1110),)
    assert parse_day("8-18", 0) == (Span(480, 1080),)
    assert parse_day("8.30 to 12.00; 13:00–18:30", 0) == (Span(510, 720), Span(780, 1110))
    assert parse_day(["13:00-18:30", "08:00-12:00"], 0) == (Span(480, 720), Span(780, 1110))
    assert parse_day("closed", 0) == () and parse_day("", 0) == () and parse_day(None, 0) == ()
    assert parse_day("00:00-24:00", 6) == (Span(0, 1440),)
    assert parse_day("08:00-12:00, 12:00-18:00", 0) == (Span(480, 1080),)  # touching spans are one


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (
            "20:00-02:00",
            "friday",
            "for hours past midnight write two spans, e.g. friday 20:00-24:00 and saturday 00:00-02:00",
        ),
        ("09:00-09:00", "friday", "closes before it opens"),
        ("08:00-12:30, 12:00-18:00", "friday", "08:00–12:30 and 12:00–18:00 overlap"),
        ("24:00-24:00", "friday", "HH:MM-HH:MM"),
        ("08:60-18:00", "friday", "got '08:60'"),
        ("morning", "friday", "got 'morning'"),
    ],
)
def test_hours_that_cannot_be_are_refused_with_a_sentence(text: str, field: str, words: str) -> None:
    err = refusal(parse_day, text, 4)
    assert err.field == field and words in err.message and err.message.endswith(".")


def test_a_week_needs_every_day_so_none_is_closed_by_leaving_it_out() -> None:
    week = parse_week(
        {
            "Mon": "08:00-18:30",
            "tue": "08:00-18:30",
            "wednesday": "closed",
            "thu": [],
            "fri": "7-19",
            "sat": "9-13",
            "sun": None,
        }
    )
    assert week.summary() == "Mon, Tue 08:00–18:30, Fri 07:00–19:00, Sat 09:00–13:00; closed Wed, Thu, Sun"
    assert week.data()["friday"] == ["07:00-19:00"] and week.data()["sunday"] == []
    assert WeeklyHours.from_rows(week.rows()) == week
    err = refusal(parse_week, {"monday": "08:00-18:30", "saturday": "09:00-13:00"})
    assert err.message.endswith("missing: Tuesday, Wednesday, Thursday, Friday, Sunday.")
    assert "given twice" in refusal(parse_week, {**DEFAULT_WEEK.data(), "mon": "closed"}).message
    assert DEFAULT_WEEK.summary() == "Mon–Fri 08:00–18:30; closed Sat, Sun"


# ---- does a visit fit ---------------------------------------------------------------------------


def calendar(
    week: WeeklyHours = DEFAULT_WEEK, closures: tuple[Closure, ...] = (), zone: ZoneInfo = CHICAGO
) -> ClinicCalendar:
    return ClinicCalendar("Blue Heron Austin", zone, week, closures)


def visit(day: date, hh: int, mm: int, minutes: int, zone: ZoneInfo = CHICAGO) -> tuple[datetime, datetime]:
    starts = local_instant(day, time(hh, mm), zone)
    return starts, starts + timedelta(minutes=minutes)


MONDAY = date(2027, 4, 12)


def test_an_infusion_ending_exactly_at_closing_fits_and_a_minute_later_does_not() -> None:
    cal = calendar()
    assert cal.misfit(*visit(MONDAY, 15, 0, 210), "infusion") is None  # 15:00-18:30
    assert cal.misfit(*visit(MONDAY, 8, 0, 210), "infusion") is None  # starts as the doors open
    late = cal.misfit(*visit(MONDAY, 15, 1, 210), "infusion")
    assert (
        late is not None
        and late.field == "start"
        and late.message
        == (
            "Blue Heron Austin is open 08:00–18:30 on Mondays; this infusion would end at 18:31. "
            "Choose an earlier time: the last start that ends by closing is 15:00."
        )
    )
    early = cal.misfit(*visit(MONDAY, 7, 59, 60), "consultation")
    assert early is not None and early.message == (
        "Blue Heron Austin is open 08:00–18:30 on Mondays; this consultation would start at 07:59. "
        "Choose 08:00 or later (the last start that ends by closing is 17:30)."
    )


def test_a_visit_longer_than_the_day_says_no_start_fits() -> None:
    err = calendar().misfit(*visit(MONDAY, 8, 0, 11 * 60), "infusion")
    assert err is not None and err.message == (
        "Blue Heron Austin is open 08:00–18:30 on Mondays; this infusion would end at 19:00, and no "
        "stretch of these hours is long enough for 11 h. Choose a day with longer hours or a shorter visit."
    )


def test_a_lunch_break_splits_the_day() -> None:
    week = DEFAULT_WEEK.with_days({0: parse_day("08:00-12:00, 13:00-18:30", 0)})
    cal = calendar(week)
    assert cal.misfit(*visit(MONDAY, 9, 0, 180), "consultation") is None  # 09:00-12:00
    across = cal.misfit(*visit(MONDAY, 11, 0, 120), "consultation")
    assert across is not None and across.message == (
        "Blue Heron Austin is open 08:00–12:00 and 13:00–18:30 on Mondays; this consultation would end "
        "at 13:00. Choose an earlier time: the last start that ends by 12:00 is 10:00."
    )
    long = cal.misfit(*visit(MONDAY, 8, 30, 300), "infusion")  # 5 h fits only after the break
    assert long is not None and long.message == (
        "Blue Heron Austin is open 08:00–12:00 and 13:00–18:30 on Mondays; this infusion would end at "
        "13:30. Choose a start from 13:00 to 13:30."
    )
    in_break = cal.misfit(*visit(MONDAY, 12, 15, 30), "follow-up")
    assert in_break is not None and "would start at 12:15. Choose a time within the hours" in in_break.message


def test_a_closed_weekday_and_a_closure_are_refused_on_the_day_field() -> None:
    thanksgiving = Closure(date(2026, 11, 26), date(2026, 11, 26), "Thanksgiving")
    winter = Closure(date(2026, 12, 24), date(2027, 1, 1), "Winter break")
    cal = calendar(closures=(thanksgiving, winter))
    sat = cal.misfit(*visit(date(2026, 11, 28), 9, 0, 60), "consultation")
    assert (
        sat is not None
        and sat.field == "day"
        and sat.message
        == (
            "Blue Heron Austin is closed on Saturdays (its hours: Mon–Fri 08:00–18:30; closed Sat, Sun). "
            "Choose another day."
        )
    )
    thu = cal.misfit(*visit(date(2026, 11, 26), 9, 0, 60), "consultation")
    assert (
        thu is not None
        and thu.field == "day"
        and thu.message
        == ("Blue Heron Austin is closed on Thu 26 Nov 2026 (Thanksgiving). Choose another day.")
    )
    mid = cal.misfit(*visit(date(2026, 12, 30), 9, 0, 60), "consultation")
    assert mid is not None and "closed from Thu 24 Dec 2026 to Fri 01 Jan 2027 (Winter break)" in mid.message
    # The days either side are open.
    assert cal.misfit(*visit(date(2026, 11, 27), 9, 0, 60), "consultation") is None
    assert cal.misfit(*visit(date(2026, 12, 23), 9, 0, 60), "consultation") is None
    assert cal.misfit(*visit(date(2027, 1, 4), 9, 0, 60), "consultation") is None
    assert cal.open_hours(date(2026, 11, 26)) == 0 and cal.open_hours(date(2026, 11, 27)) == 10.5


def test_hours_past_midnight_join_into_one_stretch() -> None:
    # Friday 20:00-24:00 and Saturday 00:00-02:00: a night clinic's single stretch.
    week = DEFAULT_WEEK.with_days(
        {4: parse_day("08:00-18:30, 20:00-24:00", 4), 5: parse_day("00:00-02:00", 5)}
    )
    cal = calendar(week)
    friday = date(2027, 4, 16)
    assert cal.misfit(*visit(friday, 22, 0, 210), "infusion") is None  # 22:00 Fri - 01:30 Sat
    assert cal.misfit(*visit(date(2027, 4, 17), 0, 30, 60), "consultation") is None
    over = cal.misfit(*visit(friday, 23, 0, 210), "infusion")
    assert over is not None and over.message == (
        "Blue Heron Austin is open 08:00–18:30 and 20:00–24:00 on Fridays; this infusion would end at "
        "02:30 on Sat 17 Apr 2027. Choose an earlier time: the last start that ends by closing is 22:30."
    )
    # Closing Saturday (a closure) ends the stretch at midnight.
    shut = calendar(week, (Closure(date(2027, 4, 17), date(2027, 4, 17), "Deep clean"),))
    cut = shut.misfit(*visit(friday, 22, 0, 210), "infusion")
    assert (
        cut is not None and "would end at 01:30 on Sat 17 Apr 2027" in cut.message and "20:30" in cut.message
    )
    # Without the Saturday span, a visit past midnight does not fit.
    alone = calendar(DEFAULT_WEEK.with_days({4: parse_day("20:00-24:00", 4)}))
    assert alone.misfit(*visit(friday, 22, 0, 120), "consultation") is None  # ends 24:00 exactly
    assert alone.misfit(*visit(friday, 23, 0, 120), "consultation") is not None


def test_open_hours_are_elapsed_time_across_a_clock_change() -> None:
    every_day = WeeklyHours(tuple((Span(0, 1440),) for _ in range(7)))
    cal = calendar(every_day)
    assert cal.open_hours(date(2026, 3, 8)) == 23  # the clocks skip an hour
    assert cal.open_hours(date(2026, 11, 1)) == 25  # and repeat one
    assert cal.open_hours(date(2026, 11, 2)) == 24
    # A visit across the change: 01:00 CST + 3 h ends at 05:00 CDT on the spring-forward night.
    starts = local_instant(date(2026, 3, 8), time(1, 0), CHICAGO)
    assert cal.misfit(starts, starts + timedelta(hours=3), "consultation") is None
    assert (starts + timedelta(hours=3)).astimezone(CHICAGO).strftime("%H:%M") == "05:00"


def test_a_clinic_without_hours_says_so() -> None:
    err = calendar(WeeklyHours(((),) * 7)).misfit(*visit(MONDAY, 9, 0, 60), "consultation")
    assert err is not None and "has no opening hours set" in err.message


def test_the_horizon_counts_days_from_today() -> None:
    cal = ClinicCalendar("Blue Heron Austin", CHICAGO, DEFAULT_WEEK, horizon_days=365)
    today = date(2027, 4, 5)
    assert cal.last_bookable_day(today) == date(2028, 4, 4)  # 2028 is a leap year
    assert cal.horizon_misfit(date(2028, 4, 4), today) is None
    err = cal.horizon_misfit(date(2200, 1, 6), today)
    assert (
        err is not None
        and err.field == "day"
        and err.message
        == (
            "Blue Heron Austin books up to 365 days ahead, so the last day open for booking today is "
            "Tue 04 Apr 2028; Mon 06 Jan 2200 is further out. Choose an earlier day."
        )
    )
    short = ClinicCalendar("Blue Heron Austin", CHICAGO, DEFAULT_WEEK, horizon_days=1)
    assert short.horizon_misfit(today + timedelta(days=1), today) is None
    assert short.horizon_misfit(today + timedelta(days=2), today) is not None


# ---- closures as typed ----------------------------------------------------------------------


def test_closures_are_read_as_typed() -> None:
    c = parse_closure("2026-12-24", "", "  Winter   break ")
    assert (
        c == Closure(date(2026, 12, 24), date(2026, 12, 24), "Winter break")
        and c.when() == "on Thu 24 Dec 2026"
    )
    assert (
        parse_closure(date(2026, 12, 24), "2027-01-01", "Holidays").when()
        == "from Thu 24 Dec 2026 to Fri 01 Jan 2027"
    )
    assert "is before the first" in refusal(parse_closure, "2027-01-02", "2027-01-01", "x").message
    assert refusal(parse_closure, "", None, "x").field == "first_day"
    assert refusal(parse_closure, "2027-01-01", "2027-02-30", "x").field == "last_day"
    assert refusal(parse_closure, "2027-01-01", None, " ").field == "reason"
    assert parse_closure("2027-01-01", "2027-12-31", "Rebuild").last_day == date(
        2027, 12, 31
    )  # 365 days: allowed
    assert "at most 366 days" in refusal(parse_closure, "2027-01-01", "2028-01-02", "Rebuild").message


def test_durations_read_like_a_person_says_them() -> None:
    assert [duration(timedelta(minutes=n)) for n in (45, 60, 210, 420, 0)] == [
        "45 min",
        "1 h",
        "3 h 30 min",
        "7 h",
        "0 min",
    ]
