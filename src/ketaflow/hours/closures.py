"""Days a clinic is closed whatever its weekly hours say: a holiday, a closed day, a date range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ketaflow.errors import Problems, invalid

REASON_MAX = 200
# CLINIC POLICY (input sanity, not a clinical figure): one closure covers at most a year;
# a clinic shut for longer is closing, which is not something a closure records.
LONGEST_CLOSURE_DAYS = 366


@dataclass(frozen=True)
class Closure:
    first_day: date
    last_day: date
    reason: str

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def overlaps(self, first: date, last: date) -> bool:
        return self.first_day <= last and first <= self.last_day

    def when(self) -> str:
        """ "on Thu 26 Nov 2026" or "from Thu 24 Dec 2026 to Fri 01 Jan 2027"."""
        if self.first_day == self.last_day:
            return f"on {self.first_day:%a %d %b %Y}"
        return f"from {self.first_day:%a %d %b %Y} to {self.last_day:%a %d %b %Y}"


def _day(value: str | date | None, field: str, what: str) -> date:
    if isinstance(value, date):
        return value
    text = (value or "").strip()
    if not text:
        raise invalid(field, f"Choose the {what} (YYYY-MM-DD).")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise invalid(
            field, f"Write the {what} as YYYY-MM-DD (for example 2026-12-24); got {text!r}."
        ) from None


def parse_closure(first_day: str | date | None, last_day: str | date | None, reason: str | None) -> Closure:
    """A closure from what was typed: the first day, the last day (the first when empty) and why."""
    found = Problems()  # every mistake at once, each on its field
    first = found.check(lambda: _day(first_day, "first_day", "first closed day"))
    one_day = last_day is None or (isinstance(last_day, str) and not last_day.strip())
    last = first if one_day else found.check(lambda: _day(last_day, "last_day", "last closed day"))
    why = " ".join((reason or "").split())
    if not why:
        found.add("reason", 'Say why the clinic is closed (for example "Thanksgiving" or "Staff training").')
    if len(why) > REASON_MAX:
        found.add("reason", f"Keep the reason under {REASON_MAX} characters; it has {len(why)}.")
    if first is not None and last is not None:
        found.check(lambda: _span_fits(first, last))
    found.raise_any()
    assert first is not None and last is not None
    return Closure(first, last, why)


def _span_fits(first: date, last: date) -> None:
    if last < first:
        raise invalid(
            "last_day",
            f"The last closed day ({last:%a %d %b %Y}) is before the first ({first:%a %d %b %Y}); "
            "swap them or correct one.",
        )
    if (last - first).days + 1 > LONGEST_CLOSURE_DAYS:
        raise invalid(
            "last_day",
            f"One closure covers at most {LONGEST_CLOSURE_DAYS} days; this one is "
            f"{(last - first).days + 1}. Enter a shorter range.",
        )
