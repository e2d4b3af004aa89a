"""Clinic opening hours, closures and the booking horizon (pure: no storage, no web).

- `weekly`: the hours per weekday, read from and written as text.
- `closures`: days a clinic is shut whatever the weekly hours say.
- `calendar`: both together in the clinic's time zone; whether a visit fits, and why not.
- `local_time`: wall-clock times, refusing one the clocks skip or pass twice.

Opening hours and the booking horizon are clinic settings, not clinical figures.
"""

from ketaflow.hours.calendar import DEFAULT_HORIZON_DAYS, HORIZON_RANGE_DAYS, ClinicCalendar, duration
from ketaflow.hours.closures import Closure, parse_closure
from ketaflow.hours.local_time import local_instant
from ketaflow.hours.weekly import DEFAULT_WEEK, WEEKDAYS, Span, WeeklyHours, parse_day, parse_week

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_WEEK",
    "HORIZON_RANGE_DAYS",
    "WEEKDAYS",
    "ClinicCalendar",
    "Closure",
    "Span",
    "WeeklyHours",
    "duration",
    "local_instant",
    "parse_closure",
    "parse_day",
    "parse_week",
]
