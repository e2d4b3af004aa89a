"""The append-only triggers cannot be sidestepped (issue 12): not by SQLite's REPLACE, not by
an upsert, not by PostgreSQL's TRUNCATE, and not from a connection ketaflow did not make
(a console session runs none of ketaflow's connect hooks)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine, exc, text
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.store.append_only import create_guard_sql, unique_keys
from ketaflow.store.engine import make_engine
from ketaflow.store.migrate import upgrade
from tests.factories import make_chart, make_checkpoint

APPEND_ONLY = m.append_only_tables()


@contextmanager
def _console_like(conn: Connection) -> Iterator[None]:
    """On SQLite, turn off the recursive triggers ketaflow's own connections turn on."""
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        conn.exec_driver_sql("PRAGMA recursive_triggers=OFF")
    try:
        yield
    finally:
        if sqlite:
            conn.exec_driver_sql("PRAGMA recursive_triggers=ON")


def _snapshot(db: Session, table: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_it_refuses_the_engines_own_way_around_the_row_triggers(owner_db: Session, table: str) -> None:
    """SQLite: REPLACE (deletes without DELETE triggers). PostgreSQL: TRUNCATE (no row triggers).
    As the tables' owner: the app's own role is refused before the trigger runs."""
    db = owner_db
    make_chart(db)
    make_checkpoint(db)  # chain_checkpoints is append-only too
    before = _snapshot(db, table)
    assert before
    if db.get_bind().dialect.name == "sqlite":
        statement = f"REPLACE INTO {table} SELECT * FROM {table}"
        refusal = rf"{table} row already exists \(REPLACE or upsert\); {table} is append-only"
    else:
        # CASCADE: the tables pointing at this one go too, and their triggers refuse as well.
        statement, refusal = f"TRUNCATE {table} CASCADE", "TRUNCATE is append-only"
    with _console_like(db.connection()), pytest.raises(exc.DBAPIError, match=refusal), db.begin_nested():
        db.execute(text(statement))
    assert _snapshot(db, table) == before


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_it_refuses_an_upsert_on_every_append_only_table(owner_db: Session, table: str) -> None:
    db = owner_db
    make_chart(db)
    make_checkpoint(db)
    before = _snapshot(db, table)
    # `WHERE true` keeps SQLite's parser from reading ON CONFLICT as a join constraint.
    upsert = (
        f"INSERT INTO {table} SELECT * FROM {table} WHERE true "
        "ON CONFLICT (id) DO UPDATE SET id = excluded.id"
    )
    with (
        _console_like(db.connection()),
        pytest.raises(exc.DBAPIError, match="append-only"),
        db.begin_nested(),
    ):
        db.execute(text(upsert))
    assert _snapshot(db, table) == before


def test_a_console_session_cannot_rewrite_a_vital_sign_or_the_audit_trail(
    fresh_engine: Callable[[], Engine],
) -> None:
    """The issue's own attempt, from a plain DB-API connection to a migrated database."""
    engine = fresh_engine()
    upgrade(engine)
    with Session(engine) as db:
        make_chart(db)
        db.add(m.AuditEvent(actor_label="director", action="patient.read", entity_type="patient"))
        db.commit()
    with engine.connect() as conn:
        before = {
            t: conn.execute(text(f"SELECT * FROM {t} ORDER BY id")).all()
            for t in ("vital_signs", "audit_events")
        }
    rewrite = [
        "CREATE TEMP TABLE v AS SELECT * FROM vital_signs",
        "UPDATE v SET systolic_mmhg = 118, diastolic_mmhg = 76",
        "CREATE TEMP TABLE a AS SELECT * FROM audit_events",
        "UPDATE a SET actor_label = 'system', action = 'clinic.list'",
    ]
    if engine.dialect.name == "sqlite":
        raw: sqlite3.Connection | psycopg.Connection = sqlite3.connect(
            str(engine.url.database), isolation_level=None
        )
        refused: type[Exception] = sqlite3.IntegrityError
        attempts = [
            "REPLACE INTO vital_signs SELECT * FROM v",
            "INSERT OR REPLACE INTO audit_events SELECT * FROM a",
        ]
    else:
        raw = psycopg.connect(engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
        raw.autocommit = True
        refused = psycopg.errors.RaiseException
        attempts = ["TRUNCATE audit_events", "TRUNCATE vital_signs CASCADE"]
    attempts += [
        "INSERT INTO vital_signs SELECT * FROM v WHERE true "
        "ON CONFLICT (id) DO UPDATE SET systolic_mmhg = 118, diastolic_mmhg = 76",
        "INSERT INTO audit_events SELECT * FROM a WHERE true "
        "ON CONFLICT (id) DO UPDATE SET actor_label = 'system', action = 'clinic.list'",
    ]
    try:
        for statement in rewrite:
            raw.execute(statement)
        for attempt in attempts:
            with pytest.raises(refused, match="append-only"):
                raw.execute(attempt)
    finally:
        raw.close()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT systolic_mmhg, diastolic_mmhg FROM vital_signs")).one() == (124, 80)
        for table, rows in before.items():
            assert conn.execute(text(f"SELECT * FROM {table} ORDER BY id")).all() == rows, table


def test_the_sqlite_guard_covers_unique_keys_as_well_as_the_primary_key(tmp_path: Path) -> None:
    """REPLACE deletes whichever row holds a key the new row takes, not only by id."""
    path = tmp_path / "keys.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE facts (id TEXT PRIMARY KEY, a INT, b INT, v INT, UNIQUE (a, b))")
    conn.execute("INSERT INTO facts VALUES ('x', 1, 2, 10)")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as sa_conn:
        keys = unique_keys(sa_conn, "facts")
    engine.dispose()
    assert keys == [("id",), ("a", "b")]
    for statement in create_guard_sql("sqlite", "facts", keys):
        conn.execute(statement)
    for attempt in ("REPLACE INTO facts VALUES ('x', 5, 6, 11)", "REPLACE INTO facts VALUES ('y', 1, 2, 12)"):
        with pytest.raises(sqlite3.IntegrityError, match="facts is append-only"):
            conn.execute(attempt)
    conn.execute("INSERT INTO facts VALUES ('z', 1, NULL, 13)")  # a new key is a new fact
    assert conn.execute("SELECT id, v FROM facts ORDER BY id").fetchall() == [("x", 10), ("z", 13)]
    conn.close()
