"""The canonical form of a time read as text (store/chain.py `_datetime`), checked against the
Python value it was written from: PostgreSQL's text of a `timestamptz` in UTC drops the
fraction's trailing zeros, so its length depends on the fraction, and one length (three
digits: "2026-11-25 10:00:00.123+00", 26 characters) is that of SQLite's naive stored form.
Mistaken for it, the row's hash changed on reading and `verify` reported a row "changed" that
nobody had changed, about once in a thousand random times (issue 12, CI runs of 2026-12-06)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ketaflow.store.chain import _datetime


def _pg_text(at: datetime) -> str:
    """PostgreSQL's ISO output of a timestamptz in UTC, written out by hand from its documented
    form (datatype-datetime.html, 'ISO' DateStyle): fraction without trailing zeros, none when
    zero, offset '+00'."""
    at = at.astimezone(UTC)
    fraction = f"{at.microsecond:06d}".rstrip("0")
    return at.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "") + "+00"


def _sqlite_text(at: datetime) -> str:
    """SQLite's stored form of the same time (naive UTC, always six digits)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


@pytest.mark.parametrize("micro", [0, 100000, 120000, 123000, 123400, 123450, 123456, 1, 999999])
def test_every_fraction_length_reads_as_the_written_value(micro: int) -> None:
    at = datetime(2026, 11, 25, 10, 0, 0, micro, tzinfo=UTC)
    expected = _datetime(at)
    assert _datetime(_pg_text(at)) == expected, _pg_text(at)
    assert _datetime(_sqlite_text(at)) == expected


def test_seeded_times_read_as_written() -> None:
    """2,000 seeded instants (seed 12): both engines' text forms give the Python value's form."""
    rng = random.Random(12)
    for _ in range(2000):
        at = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**15))
        if rng.random() < 0.5:  # whole milliseconds, as clients that round to them write
            at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        assert _datetime(_pg_text(at)) == _datetime(at), _pg_text(at)
        assert _datetime(_sqlite_text(at)) == _datetime(at)
