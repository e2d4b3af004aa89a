"""Opening hours and holiday closures of the demo clinics (what each clinic chose: clinic policy,
not clinical figures).

Every demo clinic is open at least 08:00-18:30 Monday to Friday, the span of the three chair
slots the demo books (`ketaflow.demo.schedule.SLOT_STARTS`), so the demo's schedule stays
inside its hours; some open earlier, close later or open on Saturday mornings, so the
director's chair use differs between clinics for the same kind of week. The clinics close
on Thanksgiving, Christmas Day and New Year's Day, and the demo books nobody on those days.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from ketaflow.hours import WeeklyHours, parse_week

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def _week(weekdays: str, saturday: str = "closed") -> WeeklyHours:
    return parse_week({**dict.fromkeys(_WEEKDAYS, weekdays), "saturday": saturday, "sunday": "closed"})


# Clinic code (see catalog.CLINICS) -> its weekly hours. A code not listed keeps the default.
CLINIC_HOURS: dict[str, WeeklyHours] = {
    "aus": _week("08:00-18:30"),
    "den": _week("07:30-18:30"),
    "phx": _week("07:00-18:30"),  # early starts through the hot months
    "sd": _week("08:00-19:00", saturday="09:00-13:00"),
    "pdx": _week("08:00-18:30"),
    "chi": _week("08:00-19:30"),
    "atl": _week("08:00-18:30", saturday="09:00-14:00"),
    "bos": _week("07:30-19:00"),
    "msp": _week("08:00-18:30"),
}
DEFAULT_DEMO_HOURS = _week("08:00-18:30")
HORIZON_DAYS = 365  # the default booking horizon (ketaflow.hours.DEFAULT_HORIZON_DAYS)

# Namespace for the hours and closure rows' ids: derived from the clinic's id, so adding them
# draws nothing from the generator's random streams (every other row keeps its id).
_IDS = uuid.UUID("6f1d2c1e-4b7a-4d8e-9a51-0c2f3e4d5a6b")


def hours_of(code: str) -> WeeklyHours:
    return CLINIC_HOURS.get(code.rstrip("0123456789"), DEFAULT_DEMO_HOURS)


def row_id(clinic_id: uuid.UUID, what: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"{clinic_id}:{what}")


def _thanksgiving(year: int) -> date:
    first = date(year, 11, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7 + 21)  # the fourth Thursday


def holidays(first: date, last: date) -> list[tuple[date, str]]:
    """The demo clinics' holiday closures from `first` to `last`, in order."""
    days = [
        day
        for year in range(first.year, last.year + 1)
        for day in (
            (date(year, 1, 1), "New Year's Day"),
            (_thanksgiving(year), "Thanksgiving"),
            (date(year, 12, 25), "Christmas Day"),
        )
    ]
    return sorted(d for d in days if first <= d[0] <= last)
