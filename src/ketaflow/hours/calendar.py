"""A clinic's calendar: weekly hours less closures, in its time zone, and the booking horizon.

`misfit` says, in a sentence the front desk can act on, why a visit does not fit the
hours (or None when it does); `open_intervals` gives the instants the clinic is open on
a day, which the director's chair use counts as available.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ketaflow.errors import InvalidInput, invalid
from ketaflow.hours.closures import Closure
from ketaflow.hours.local_time import at_wall_clock
from ketaflow.hours.weekly import PLURAL, WeeklyHours

# CLINIC POLICY, not a clinical figure: how far ahead a clinic takes bookings until it sets
# its own horizon. A year holds an induction series and a year of maintenance boosters;
# further out nobody can know the clinic's hours, staff or chairs.
DEFAULT_HORIZON_DAYS = 365
# Input sanity for the setting (clinic policy): at least a day, at most three years.
HORIZON_RANGE_DAYS = (1, 3 * 365)

Interval = tuple[datetime, datetime]  # [opens, closes) as aware instants


def duration(length: timedelta) -> str:
    """3 h 30 min, 7 h, 45 min."""
    minutes = int(length.total_seconds() // 60)
    h, m = divmod(minutes, 60)
    return " ".join(p for p in (f"{h} h" if h else "", f"{m} min" if m else "") if p) or "0 min"


def _merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


@dataclass(frozen=True)
class ClinicCalendar:
    name: str
    zone: ZoneInfo
    week: WeeklyHours
    closures: tuple[Closure, ...] = ()
    horizon_days: int = DEFAULT_HORIZON_DAYS

    # ---- what is open when ----------------------------------------------------------------

    def closure_on(self, day: date) -> Closure | None:
        return next((c for c in self.closures if c.covers(day)), None)

    def open_intervals(self, day: date) -> list[Interval]:
        """The instants the clinic is open on local `day` (none when closed or a closure)."""
        if self.closure_on(day) is not None:
            return []
        return [
            (at_wall_clock(day, s.opens_min, self.zone), at_wall_clock(day, s.closes_min, self.zone))
            for s in self.week.spans(day.weekday())
        ]

    def open_hours(self, day: date) -> float:
        """Hours open on `day` as elapsed time (a span across a clock change is an hour shorter or longer)."""
        return sum((b - a).total_seconds() for a, b in self.open_intervals(day)) / 3600

    # ---- the booking horizon --------------------------------------------------------------

    def last_bookable_day(self, today: date) -> date:
        return today + timedelta(days=self.horizon_days)

    def horizon_misfit(self, day: date, today: date) -> InvalidInput | None:
        last = self.last_bookable_day(today)
        if day <= last:
            return None
        return invalid(
            "day",
            f"{self.name} books up to {self.horizon_days} days ahead, so the last day open for booking "
            f"today is {last:%a %d %b %Y}; {day:%a %d %b %Y} is further out. Choose an earlier day.",
        )

    # ---- does a visit fit -----------------------------------------------------------------

    def misfit(self, starts: datetime, ends: datetime, what: str) -> InvalidInput | None:
        """None when [starts, ends) lies inside one stretch of opening hours, else why not.

        Days are read in the clinic's zone; spans that touch across midnight (Monday to 24:00,
        Tuesday from 00:00) are one stretch. The message is tied to the form field to change:
        "day" for a closed day, "start" for a time outside the hours.
        """
        zone = self.zone
        local_start, local_end = starts.astimezone(zone), ends.astimezone(zone)
        day = local_start.date()
        intervals = _merge(
            [
                iv
                for k in range((local_end.date() - day).days + 2)
                for iv in self.open_intervals(day - timedelta(days=1) + timedelta(days=k))
            ]
        )
        if any(a <= starts and ends <= b for a, b in intervals):
            return None
        if self.week.is_closed_all_week:
            return invalid(
                "day",
                f"{self.name} has no opening hours set, so nothing can be booked there; ask the clinic's "
                "director or an administrator to set them.",
            )
        containing = next(((a, b) for a, b in intervals if a <= starts < b), None)
        closure = self.closure_on(day)
        weekday = day.weekday()
        if containing is None and closure is not None:
            return invalid(
                "day", f"{self.name} is closed {closure.when()} ({closure.reason}). Choose another day."
            )
        if containing is None and not self.week.spans(weekday):
            return invalid(
                "day",
                f"{self.name} is closed on {PLURAL[weekday]} (its hours: {self.week.summary()}). "
                "Choose another day.",
            )
        length = ends - starts
        hours = f"{self.name} is open {self.week.day_text(weekday)} on {PLURAL[weekday]}"
        same_day = [
            (a, b) for a, b in intervals if a.astimezone(zone).date() <= day <= b.astimezone(zone).date()
        ]
        fitting = [(a, b - length) for a, b in same_day if b - a >= length]
        if containing is not None:
            at = f"{local_end:%H:%M}"
            if local_end.date() != day:
                at += f" on {local_end:%a %d %b %Y}"
            happens = f"{hours}; this {what} would end at {at}"
        else:
            happens = f"{hours}; this {what} would start at {local_start:%H:%M}"
        if not fitting:
            return invalid(
                "start",
                f"{happens}, and no stretch of these hours is long enough for {duration(length)}. "
                "Choose a day with longer hours or a shorter visit.",
            )

        def hm(instant: datetime) -> str:
            return f"{instant.astimezone(zone):%H:%M}"

        closing = max(b for _a, b in same_day)
        last_start = f"the last start that ends by closing is {hm(max(s for _a, s in fitting))}"
        if containing is not None and containing[1] - containing[0] >= length:
            by = "closing" if containing[1] == closing else hm(containing[1])
            return invalid(
                "start",
                f"{happens}. Choose an earlier time: the last start that ends by {by} is "
                f"{hm(containing[1] - length)}.",
            )
        if containing is not None:
            options = " or ".join(f"from {hm(a)} to {hm(s)}" for a, s in fitting)
            return invalid("start", f"{happens}. Choose a start {options}.")
        first_open = min((a for a, _b in same_day if a.astimezone(zone).date() == day), default=None)
        if first_open is not None and starts < first_open:
            return invalid("start", f"{happens}. Choose {hm(first_open)} or later ({last_start}).")
        return invalid("start", f"{happens}. Choose a time within the hours ({last_start}).")

    def check(self, starts: datetime, ends: datetime, what: str) -> None:
        problem = self.misfit(starts, ends, what)
        if problem is not None:
            raise problem
