"""Wall-clock times in a clinic's time zone: a time the clocks skip or pass twice is refused.

`datetime.combine(day, at, zone)` never fails: on the night the clocks go forward it maps
02:30 (which no clock shows) to 03:30, and on the night they go back it silently picks
the first of two 01:30s. A booking must not move without anyone noticing, so
`local_instant` refuses both with a sentence naming the change and the times to choose.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ketaflow.errors import invalid

_MINUTE = timedelta(minutes=1)
# No clock change in the tz database skips or repeats more than a day (Samoa, 2011).
_LONGEST_CHANGE = timedelta(hours=25)


def exists(naive: datetime, zone: ZoneInfo) -> bool:
    """Whether a clock in `zone` ever shows this wall-clock time (False inside a spring-forward gap)."""
    there = naive.replace(tzinfo=zone)
    return there.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def ambiguous(naive: datetime, zone: ZoneInfo) -> bool:
    """Whether a clock in `zone` shows this wall-clock time twice (inside a fall-back overlap)."""
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    return exists(naive, zone) and first.utcoffset() != second.utcoffset()


def _run(
    naive: datetime, zone: ZoneInfo, holds: Callable[[datetime, ZoneInfo], bool]
) -> tuple[datetime, datetime]:
    """The first wall-clock minute of the run of minutes around `naive` where `holds` is true,
    and the first minute after the run."""
    lo = naive
    while holds(lo - _MINUTE, zone) and naive - lo < _LONGEST_CHANGE:
        lo -= _MINUTE
    hi = naive
    while holds(hi, zone) and hi - naive < _LONGEST_CHANGE:
        hi += _MINUTE
    return lo, hi


def _missing(naive: datetime, zone: ZoneInfo) -> bool:
    return not exists(naive, zone)


def local_instant(day: date, at: time, zone: ZoneInfo, *, field: str = "start") -> datetime:
    """The UTC instant a clock in `zone` shows `at` on `day`.

    Refused (InvalidInput tied to `field`) when no clock shows that time (the clocks go
    forward over it) or when clocks show it twice (they go back over it), with the times
    that can be chosen instead.
    """
    naive = datetime.combine(day, at)
    when = f"{at:%H:%M} on {day:%a %d %b %Y}"
    if not exists(naive, zone):
        gap_from, gap_to = _run(naive, zone, _missing)
        raise invalid(
            field,
            f"{when} does not exist in {zone.key}: the clocks go forward from {gap_from:%H:%M} to "
            f"{gap_to:%H:%M} that night. Choose a time before {gap_from:%H:%M} or from {gap_to:%H:%M} on.",
        )
    if ambiguous(naive, zone):
        twice_from, twice_to = _run(naive, zone, ambiguous)
        raise invalid(
            field,
            f"{when} happens twice in {zone.key}: the clocks go back from {twice_to:%H:%M} to "
            f"{twice_from:%H:%M} that night. Choose a time before {twice_from:%H:%M} or from "
            f"{twice_to:%H:%M} on.",
        )
    return naive.replace(tzinfo=zone).astimezone(UTC)


def at_wall_clock(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of `minutes` after local midnight of `day` (1440: the next midnight).

    For opening hours, which are not refused: a time in a spring-forward gap is read with
    the offset before the change (02:30 becomes 03:30), the earlier of two in an overlap.
    """
    base = day + timedelta(days=minutes // 1440)
    wall = time(minutes % 1440 // 60, minutes % 60)
    return datetime.combine(base, wall, zone).astimezone(UTC)
