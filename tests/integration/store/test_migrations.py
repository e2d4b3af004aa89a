"""Migrations take an empty database to head, match the models, and guard the schema."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from ketaflow.errors import SchemaMismatch
from ketaflow.store.engine import make_engine
from ketaflow.store.migrate import check_schema, current_revision, downgrade, head_revision, upgrade
from ketaflow.store.models import Base


@pytest.fixture
def empty_engine(fresh_engine: Callable[[], Engine]) -> Engine:
    """A brand-new empty database (a fresh file, or a fresh PostgreSQL database)."""
    return fresh_engine()


def test_it_migrates_an_empty_database_to_head(empty_engine: Engine) -> None:
    with pytest.raises(SchemaMismatch, match="ketaflow db upgrade"):
        check_schema(empty_engine)
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    check_schema(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_it_matches_the_models_exactly(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_only_amendments_are_in_the_amends_id_indexes(empty_engine: Engine) -> None:
    """Partial indexes (schema 0005): the set of amended rows is read from the index, not by
    scanning the table, whatever the statistics say."""
    upgrade(empty_engine)
    facts = sorted(t.name for t in Base.metadata.tables.values() if "amends_id" in t.c)
    assert len(facts) == 19  # 0007 added discharge_screens, 0008 monitoring_checks, 0014 controlled_ledger
    with empty_engine.connect() as conn:
        if empty_engine.dialect.name == "sqlite":
            definitions = dict(
                conn.execute(text("SELECT tbl_name, sql FROM sqlite_master WHERE name LIKE '%_amends_id'"))
                .tuples()
                .all()
            )
            conn.exec_driver_sql("ANALYZE")
            plan = " ".join(
                row[-1]
                for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT amends_id FROM vital_signs WHERE amends_id IS NOT NULL"
                )
            )
            assert "USING COVERING INDEX ix_vital_signs_amends_id" in plan, plan
        else:
            definitions = dict(
                conn.execute(
                    text("SELECT tablename, indexdef FROM pg_indexes WHERE indexname LIKE '%_amends_id'")
                )
                .tuples()
                .all()
            )
    assert sorted(definitions) == facts
    for table, sql in definitions.items():
        assert "amends_id IS NOT NULL" in sql.replace("(", "").replace(")", ""), (table, sql)


def test_it_downgrades_to_empty_and_back(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    downgrade(empty_engine, "base")
    assert current_revision(empty_engine) is None
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_engine)
    check_schema(empty_engine)


def test_it_refuses_a_newer_schema_and_says_what_to_do(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    with pytest.raises(SchemaMismatch, match="newer version. Upgrade ketaflow"):
        check_schema(empty_engine)


def test_it_refuses_an_older_schema_and_names_the_command(
    empty_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(empty_engine)
    # Pretend this program is one migration ahead of the database.
    import ketaflow.store.migrate as migrate

    monkeypatch.setattr(migrate, "head_revision", lambda: "9999")
    with pytest.raises(SchemaMismatch, match="older than this ketaflow's 9999; run `ketaflow db upgrade`"):
        check_schema(empty_engine)


def test_it_turns_on_wal_and_foreign_keys_for_sqlite(tmp_path: object) -> None:
    eng = make_engine(f"sqlite:///{tmp_path}/wal.sqlite")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA recursive_triggers").scalar() == 1
    eng.dispose()


def _guarded(engine: Engine, table: str, *, holes_closed: bool = False) -> bool:
    """Whether `table` carries its append-only triggers (by name), and with `holes_closed` also
    the guard against REPLACE (SQLite) or TRUNCATE (PostgreSQL) of schema 0011."""
    if engine.dialect.name == "sqlite":
        names = [f"{table}_no_update", f"{table}_no_delete"]
        names += [f"{table}_no_replace"] if holes_closed else []
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"
    else:
        names = [f"{table}_append_only"]
        names += [f"{table}_no_truncate"] if holes_closed else []
        sql = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = CAST(:t AS regclass)"
    with engine.connect() as conn:
        return set(names) <= set(conn.scalars(text(sql), {"t": table}))


@pytest.mark.parametrize("step_down_to", ["0002", "0001"])
def test_clinical_facts_stay_append_only_after_a_step_down(empty_engine: Engine, step_down_to: str) -> None:
    # SQLite rebuilds a table to drop a column, losing its triggers; the migrations put them back.
    upgrade(empty_engine)
    downgrade(empty_engine, step_down_to)
    for table in ("consultations", "administration_events", "vital_signs"):
        assert _guarded(empty_engine, table), table
    upgrade(empty_engine)
    for table in ("consultations", "administration_events", "patient_questions", "monitoring_checks"):
        assert _guarded(empty_engine, table, holes_closed=True), table
