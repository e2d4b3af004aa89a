"""A clinic's weekly opening hours: for each weekday, the spans of wall-clock time it is open.

A span runs from `opens_min` to `closes_min`, minutes after local midnight (1440 is the
midnight at the end of the day, written 24:00). A day may have several spans (a lunch
break) or none (closed). Hours are read and written as text, "08:00-18:30",
"08:00-12:00, 13:00-18:30" or "closed", one entry per weekday.

Opening hours are a clinic setting, not a clinical figure: `DEFAULT_WEEK` is what a
clinic gets until it sets its own (see its comment).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial

from ketaflow.errors import Problems, invalid

DAY_MIN = 1440
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PLURAL = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
CLOSED_WORDS = {"", "closed", "-", "none", "shut"}

_CLOCK = re.compile(r"(\d{1,2})(?:[:.h](\d{2}))?")
_SPAN = re.compile(r"\s*(\S+?)\s*(?:-|–|—|\bto\b)\s*(\S+)\s*")


def clock(minutes: int) -> str:
    """Minutes after midnight as HH:MM (1440 as 24:00)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, order=True)
class Span:
    opens_min: int
    closes_min: int

    def __post_init__(self) -> None:
        if not 0 <= self.opens_min < self.closes_min <= DAY_MIN:
            raise ValueError(f"not a span of one day: {self.opens_min}..{self.closes_min}")

    @property
    def minutes(self) -> int:
        return self.closes_min - self.opens_min

    def text(self) -> str:
        """For people: 08:00–18:30 (en dash)."""
        return f"{clock(self.opens_min)}–{clock(self.closes_min)}"

    def data(self) -> str:
        """For machines and the command line: 08:00-18:30."""
        return f"{clock(self.opens_min)}-{clock(self.closes_min)}"


def _read_clock(text: str, field: str, day: str, *, closing: bool) -> int:
    hit = _CLOCK.fullmatch(text.strip().lower())
    if hit:
        hours, minutes = int(hit.group(1)), int(hit.group(2) or 0)
        if minutes < 60 and (hours < 24 or (closing and hours == 24 and minutes == 0)):
            return hours * 60 + minutes
    raise invalid(
        field,
        f"Write {day}'s hours as HH:MM-HH:MM on the 24-hour clock (for example 08:00-18:30, "
        f"or 24:00 for midnight at closing); got {text.strip()!r}.",
    )


def parse_day(value: str | Iterable[str] | None, weekday: int) -> tuple[Span, ...]:
    """One weekday's spans from text ("08:00-18:30", "08:00-12:00, 13:00-18:30", "closed") or a list."""
    name, field = WEEKDAYS[weekday].capitalize(), WEEKDAYS[weekday]
    if value is None:
        return ()
    parts = [value] if isinstance(value, str) else list(value)
    pieces = [p.strip() for part in parts for p in re.split(r"[,;]|\band\b", str(part))]
    spans: list[Span] = []
    for piece in pieces:
        if piece.lower() in CLOSED_WORDS:
            continue
        hit = _SPAN.fullmatch(piece)
        if not hit:
            raise invalid(
                field,
                f"Write {name}'s hours as HH:MM-HH:MM (for example 08:00-18:30), several spans "
                f'separated by commas, or "closed"; got {piece!r}.',
            )
        opens = _read_clock(hit.group(1), field, name, closing=False)
        closes = _read_clock(hit.group(2), field, name, closing=True)
        if closes <= opens:
            raise invalid(
                field,
                f"{name}: {piece} closes before it opens. Hours run within one day; for hours past "
                f"midnight write two spans, e.g. {WEEKDAYS[weekday]} 20:00-24:00 and "
                f"{WEEKDAYS[(weekday + 1) % 7]} 00:00-02:00.",
            )
        spans.append(Span(opens, closes))
    spans.sort()
    merged: list[Span] = []
    for s in spans:
        if merged and s.opens_min < merged[-1].closes_min:
            raise invalid(
                field,
                f"{name}: {merged[-1].text()} and {s.text()} overlap; write each time of day once.",
            )
        if merged and s.opens_min == merged[-1].closes_min:  # touching spans are one span
            merged[-1] = Span(merged[-1].opens_min, s.closes_min)
        else:
            merged.append(s)
    return tuple(merged)


def weekday_of(name: str) -> int:
    """0 for "monday" (or "mon"), ... 6 for "sunday"."""
    key = name.strip().lower()
    for i, full in enumerate(WEEKDAYS):
        if key in (full, full[:3]):
            return i
    raise invalid("week", f"{name!r} is not a day of the week; use monday ... sunday.")


@dataclass(frozen=True)
class WeeklyHours:
    """Monday first: the spans each weekday is open (empty: closed all day)."""

    days: tuple[tuple[Span, ...], ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError("a week has seven days")

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int, int]]) -> WeeklyHours:
        """From stored (weekday, opens_min, closes_min) rows."""
        days: list[list[Span]] = [[] for _ in range(7)]
        for weekday, opens, closes in rows:
            days[weekday].append(Span(opens, closes))
        return cls(tuple(tuple(sorted(d)) for d in days))

    def rows(self) -> list[tuple[int, int, int]]:
        return [(w, s.opens_min, s.closes_min) for w, spans in enumerate(self.days) for s in spans]

    def spans(self, weekday: int) -> tuple[Span, ...]:
        return self.days[weekday]

    @property
    def is_closed_all_week(self) -> bool:
        return not any(self.days)

    def day_text(self, weekday: int) -> str:
        """08:00–18:30, 08:00–12:00 and 13:00–18:30, or closed."""
        spans = self.days[weekday]
        return " and ".join(s.text() for s in spans) if spans else "closed"

    def day_data(self, weekday: int) -> str:
        """08:00-18:30, 08:00-12:00, 13:00-18:30, or closed (as typed into a form)."""
        spans = self.days[weekday]
        return ", ".join(s.data() for s in spans) if spans else "closed"

    def summary(self) -> str:
        """The week in one line, consecutive days with the same hours together:
        "Mon–Fri 08:00–18:30, Sat 09:00–13:00; closed Sun"."""
        groups: list[tuple[int, int]] = []
        for w in range(7):
            if groups and self.days[w] == self.days[groups[-1][1]] and groups[-1][1] == w - 1:
                groups[-1] = (groups[-1][0], w)
            else:
                groups.append((w, w))

        def label(a: int, b: int) -> str:
            return (
                SHORT[a] if a == b else f"{SHORT[a]}–{SHORT[b]}" if b > a + 1 else f"{SHORT[a]}, {SHORT[b]}"
            )

        open_parts = [f"{label(a, b)} {self.day_text(a)}" for a, b in groups if self.days[a]]
        closed = [label(a, b) for a, b in groups if not self.days[a]]
        if not open_parts:
            return "closed every day"
        return ", ".join(open_parts) + (f"; closed {', '.join(closed)}" if closed else "")

    def data(self) -> dict[str, list[str]]:
        """{"monday": ["08:00-18:30"], ..., "sunday": []}."""
        return {WEEKDAYS[w]: [s.data() for s in spans] for w, spans in enumerate(self.days)}

    def with_days(self, changes: Mapping[int, tuple[Span, ...]]) -> WeeklyHours:
        return WeeklyHours(tuple(changes.get(w, self.days[w]) for w in range(7)))


def parse_week(given: Mapping[str, str | Iterable[str] | None]) -> WeeklyHours:
    """A whole week from {"monday": "08:00-18:30", ..., "sunday": "closed"}: every day must be given,
    so leaving a day out never closes it by accident."""
    days: dict[int, tuple[Span, ...]] = {}
    found = Problems()  # every day's mistake at once, each on its day
    for name, value in given.items():
        w = weekday_of(name)
        if w in days:
            raise invalid("week", f"{WEEKDAYS[w].capitalize()} is given twice; give each day once.")
        days[w] = found.check(partial(parse_day, value, w), WEEKDAYS[w]) or ()
    found.raise_any()
    missing = [WEEKDAYS[w].capitalize() for w in range(7) if w not in days]
    if missing:
        raise invalid(
            "week",
            f'Give the hours for every day of the week ("closed" for a day the clinic is shut); '
            f"missing: {', '.join(missing)}.",
        )
    return WeeklyHours(tuple(days[w] for w in range(7)))


# CLINIC POLICY, not a clinical figure: the hours a clinic has until it sets its own (and
# what the 0006 migration gave clinics that existed before hours were kept): Monday to
# Friday 08:00-18:30, the span of the three 3.5-hour chair slots (08:00, 11:30, 15:00)
# that an infusion clinic's day is usually cut into (ketaflow.demo.schedule).
DEFAULT_WEEK = WeeklyHours(tuple((Span(8 * 60, 18 * 60 + 30),) if w < 5 else () for w in range(7)))
