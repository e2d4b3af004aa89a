"""Reading typed form fields: numbers, whole numbers, local times, days and tick boxes.

Each reader returns None for an empty field and raises InvalidInput tagged with the
field's name (so the page shows the message beside it) for anything it cannot read.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ketaflow.errors import invalid
from ketaflow.input_rules import visit_day, visit_time


def number(text: str | None, field: str, label: str) -> float | None:
    """A decimal number as typed ("72.5" or "72,5"); None when empty."""
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise invalid(field, f"{label} must be a number; got {text!r}.") from None
    if not math.isfinite(value):
        raise invalid(field, f"{label} must be a number; got {text!r}.")
    return value


def whole(text: str | None, field: str, label: str) -> int | None:
    """A whole number as typed ("72", or "72.0"); None when empty."""
    value = number(text, field, label)
    if value is None:
        return None
    if value != int(value):
        raise invalid(field, f"{label} must be a whole number; got {(text or '').strip()!r}.")
    return int(value)


def local_time(text: str | None, field: str, zone: ZoneInfo) -> datetime | None:
    """A datetime-local field ('2026-12-01T10:30') read in the clinic's time zone; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(field, f"Write the date and time like 2026-12-01 10:30; got {text!r}.") from None
    value = value if value.tzinfo else value.replace(tzinfo=zone)
    visit_time(value, field, "Date and time")  # a year the calendar holds, with a UTC instant
    return value


def day(text: str | None, field: str, label: str) -> date | None:
    """A date field ('2026-12-01'); None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise invalid(field, f"{label}: write the date like 2026-12-01; got {text!r}.") from None
    return visit_day(value, field, label)


def ticked(text: str | None) -> bool:
    """Whether a tick box (or yes/no field) was ticked."""
    return (text or "").strip().lower() in {"1", "yes", "on", "true"}
