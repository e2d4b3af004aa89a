"""When a vial may no longer be used: its lot's expiry, and a multi-dose vial's beyond-use date.

Sources:
- Multi-dose vials, once opened or needle-punctured, are dated and discarded within
  28 days unless the manufacturer specifies a different (shorter or longer) date:
  CDC, "Injection Safety: Questions about multi-dose vials" (FAQ), and USP General
  Chapter <797> (2023 revision), beyond-use date of an opened or needle-punctured
  multiple-dose container. The primary texts were not retrieved in this workplace; the
  28-day default is as the issue states it and as both are widely quoted. Verify against
  USP <797> before relying on it (listed in docs/clinical-review.md).
- A single-dose vial is for one patient and one procedure: what is left after the draw is
  wasted, never kept for later (CDC, same FAQ: "single-dose vials ... should not be used
  for more than one patient"; the same USP chapter).
- An expiry printed as month and year means the last day of that month (USP General
  Notices 10.40.100 / FDA labelling practice, as commonly cited; primary text not
  retrieved here). The store keeps a full date; the receiving form turns "MM/YYYY" into
  the last day of the month with `expiry_from_month`.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

# CDC injection-safety FAQ and USP <797>: 28 days after first opening, unless the maker says otherwise.
MULTI_DOSE_DEFAULT_DAYS = 28


def beyond_use_date(first_opened_at: datetime, *, maker_days: int | None = None) -> datetime:
    """The moment an opened multi-dose vial must be discarded.

    `maker_days` is the manufacturer's own in-use period when its label gives one; it
    replaces the 28-day default (shorter or longer, as the CDC FAQ says).
    """
    days = MULTI_DOSE_DEFAULT_DAYS if maker_days is None else maker_days
    if days <= 0:
        raise ValueError("A manufacturer's in-use period must be at least one day.")
    return first_opened_at + timedelta(days=days)


def expiry_from_month(year: int, month: int) -> date:
    """The last day of `month`: an expiry printed as MM/YYYY runs to the end of that month."""
    if not 1 <= month <= 12:
        raise ValueError("The month of an expiry date is 1 to 12.")
    return date(year, month, calendar.monthrange(year, month)[1])


def lot_usable_on(expiry: date, on: date) -> bool:
    """A lot may be used through its expiry date (inclusive) and not after."""
    return on <= expiry
