"""Reading the chains fast (issue 12, verify at 100x): the values `stream` reads straight from
the driver (UUIDs, times, dates and JSON as text on PostgreSQL) hash byte for byte as the
application's values do, a hash written before this reader still holds, and a walk keeps its
memory bounded when every row of a table is wrong."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
)

import ketaflow.store.verify as verifying
from ketaflow.store.chain import GENESIS, spec_for, spec_for_table, stream
from ketaflow.store.migrate import upgrade
from ketaflow.store.types import JSONType, UTCDateTime
from ketaflow.store.verify import verify
from tests.integration.store.test_chain import _rows, _triggers_dropped, charted  # noqa: F401 (a fixture)


def _probe_table() -> Table:
    return Table(
        "chain_read_probe",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("clinic_id", Uuid),
        Column("at", UTCDateTime),
        Column("day", Date),
        Column("doc", JSONType),
        Column("amount", Numeric(12, 4)),
        Column("ratio", Float),
        Column("count", Integer),
        Column("flag", Boolean),
        Column("label", String(80)),
    )


def _values(rng: random.Random, i: int) -> dict[str, object]:
    """Seeded values with the edge cases of each text form: no fraction of a second, fractions
    with trailing zeros (PostgreSQL drops them), other time zones, JSON floats that are whole."""
    base = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**8))
    micro = [0, 500000, 120000, 123000, 1, 999999, rng.randrange(10**6)][i % 7]
    zone = timezone(timedelta(hours=[0, -5, 9, 5.5][i % 4]))
    at = base.replace(microsecond=micro).astimezone(zone)
    return {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "clinic_id": None if i % 5 == 0 else uuid.UUID(int=rng.getrandbits(128), version=4),
        "at": at,
        "day": date(2026, 1, 1) + timedelta(days=rng.randrange(-4000, 400)),
        "doc": {"dose_mg": [1.0, 0.5, 1e20, 12][i % 4], "note": 'é ✓ "q"', "list": [1, None, {"b": True}]},
        "amount": Decimal(rng.randrange(-(10**8), 10**8)) / 10**4,
        "ratio": rng.random() * 10 ** rng.randrange(-5, 5),
        "count": rng.randrange(-(2**31), 2**31),
        "flag": i % 2 == 0,
        "label": None if i % 7 == 0 else f"row {i} \\ ñ",
    }


def test_values_read_raw_hash_as_the_application_values_do(fresh_engine: Callable[[], Engine]) -> None:
    """An independent route: the hash of what the application wrote (its Python values) equals
    the hash of what `stream` reads back, for 300 seeded rows of every canonical kind."""
    engine = fresh_engine()
    table = _probe_table()
    table.create(engine)
    rng = random.Random(12)
    written = [_values(rng, i) for i in range(300)]
    with engine.begin() as conn:
        conn.execute(table.insert(), written)
    spec = spec_for_table(table)
    names = ", ".join(spec.columns)
    with engine.begin() as conn:
        read = {r[spec.columns.index("id")]: r for r in stream(conn, f"SELECT {names} FROM chain_read_probe")}
        canon = spec.raw_canon(engine.dialect.name)
    assert len(read) == len(written)
    for values in written:
        raw_id = values["id"].hex if engine.dialect.name == "sqlite" else str(values["id"])  # type: ignore[union-attr]
        expected = spec.row_hash(GENESIS, spec.content(values))
        assert spec.raw_hash(GENESIS, read[raw_id], canon) == expected, values


def test_a_hash_written_before_the_fast_reader_is_unchanged() -> None:
    """A vital sign's hash as the first release of the chains computed it (ketaflow 6e4d04d,
    `spec.row_hash(GENESIS, spec.content(row))`): chains already written still verify."""
    spec = spec_for("vital_signs")
    row = {
        "id": uuid.UUID("0f8e2a4c-9d1b-4e6f-8a2b-3c4d5e6f7a81"),
        "clinic_id": uuid.UUID("11111111-2222-4333-8444-555555555555"),
        "patient_id": uuid.UUID("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"),
        "session_id": None,
        "measured_at": datetime(2026, 11, 25, 9, 30, 0, 500000, tzinfo=timezone(timedelta(hours=-5))),
        "recorded_at": datetime(2026, 11, 25, 14, 31, 2, tzinfo=UTC),
        "phase": "infusion",
        "source": "manual",
        "systolic_mmhg": 120,
        "diastolic_mmhg": 80,
        "heart_rate_bpm": 72,
        "spo2_percent": 98,
        "respiratory_rate_per_min": 14,
        "sedation_score": 5,
        "recorded_by_id": uuid.UUID("0f8e2a4c-0000-4e6f-8a2b-3c4d5e6f7a81"),
    }
    first = spec.row_hash(GENESIS, spec.content(row))
    assert first.hex() == "b56bacf1a63a28fb9d5a3ab2af276fe0a44ac499b908442a450a04793104cb29"
    second = spec.row_hash(first, spec.content(row))
    assert second.hex() == "eacd05f1dd3fd42927bdc72588c624a20d0e00f06b6b9e335440ea123ed4ef23"


def test_a_table_where_every_row_is_wrong_lists_a_few_and_counts_the_rest(
    charted: tuple[Engine, uuid.UUID],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, clinic_id = charted
    monkeypatch.setattr(verifying, "MAX_PER_TABLE", 2)
    vitals = _rows(engine, "vital_signs", clinic_id)
    assert len(vitals) >= 5
    with _triggers_dropped(engine, "vital_signs") as conn:
        conn.exec_driver_sql("UPDATE vital_signs SET heart_rate_bpm = heart_rate_bpm + 1")
    report = verify(engine, None)
    listed = [p for p in report.problems if p.table == "vital_signs"]
    assert len(listed) == 2 and {p.kind for p in listed} == {"changed"}
    assert report.unlisted == len(vitals) - 2 and not report.intact


def test_verify_tells_its_progress(
    charted: tuple[Engine, uuid.UUID],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, _clinic = charted
    monkeypatch.setattr(verifying, "PROGRESS_EVERY", 3)
    told: list[int] = []
    report = verify(engine, None, progress=told.append)
    assert report.intact and sum(told) == report.rows == verifying.expected_rows(engine)


def test_schema_0015_backfill_reads_in_pages(
    charted: tuple[Engine, uuid.UUID],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The backfill pages through each chain (2 rows a page here): same chains as one read."""
    import ketaflow.store.chain as chain
    from ketaflow.store.migrate import downgrade

    engine, clinic_id = charted
    before = [r["id"] for r in _rows(engine, "vital_signs", clinic_id)]
    monkeypatch.setattr(chain, "BATCH", 2)
    downgrade(engine, "0014_controlled_substances")
    upgrade(engine)
    report = verify(engine, None)
    assert report.intact, report.problems
    after = _rows(engine, "vital_signs", clinic_id)
    assert [r["chain_seq"] for r in after] == list(range(1, len(before) + 1))
    recorded = [(r["recorded_at"], str(r["id"])) for r in after]
    assert recorded == sorted(recorded) and sorted(map(str, before)) == sorted(str(r["id"]) for r in after)
