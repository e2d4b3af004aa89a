"""Database-level refusal of UPDATE and DELETE on clinical facts.

The ORM never updates these rows, but a clinic's data outlives any one program: a
script, a console session or a bug must not be able to rewrite a charted vital sign
either. Triggers make the database itself refuse, on SQLite and on PostgreSQL. A
correction is a new row whose `amends_id` points at the row it corrects.

Two triggers per table and engine (schema 0011 added the second, issue 12):
- `create_trigger_sql`: row triggers refusing UPDATE and DELETE (on PostgreSQL these
  also catch `INSERT ... ON CONFLICT DO UPDATE`, which fires the UPDATE row trigger).
- `create_guard_sql`: the ways around them. On SQLite, `REPLACE INTO` / `INSERT OR
  REPLACE` deletes the old row without firing DELETE triggers (unless the connection
  turned `recursive_triggers` on, which a console session does not), so a BEFORE INSERT
  trigger refuses any row whose primary or unique key is already taken. On PostgreSQL,
  TRUNCATE fires no row triggers, so a statement-level BEFORE TRUNCATE trigger refuses it.
A new append-only table (or an SQLite table rebuilt by a migration, which loses its
triggers) needs both. The table owner can still DISABLE or DROP a trigger; the app therefore
connects as a role of its own that cannot, on PostgreSQL (`db_roles.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect, text

# The exact words every refusal carries, so callers can recognise it on any engine.
REFUSAL_MARKER = "is append-only"

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION ketaflow_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ketaflow: % % is append-only; record an amendment instead', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'P0001';
END;
$$ LANGUAGE plpgsql
"""


def create_trigger_sql(dialect: str, table: str) -> list[str]:
    """SQL statements that make `table` refuse UPDATE and DELETE on `dialect`."""
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION ketaflow_refuse_change()"
        ]
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'ketaflow: {table} {op} {REFUSAL_MARKER}; "
            f"record an amendment instead'); END"
            for op in ("UPDATE", "DELETE")
        ]
    raise ValueError(f"No append-only triggers for the {dialect} dialect.")


def drop_trigger_sql(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"]
    return [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for op in ("update", "delete")]


def create_guard_sql(dialect: str, table: str, keys: Sequence[Sequence[str]] = (("id",),)) -> list[str]:
    """SQL closing the ways around the UPDATE/DELETE triggers on `table` (see the module doc).

    `keys` are the table's primary and unique keys (column names); on SQLite an INSERT
    whose values match an existing row on any of them is refused before REPLACE can
    delete that row. A plain duplicate INSERT fails either way; `INSERT OR IGNORE` and
    `ON CONFLICT DO NOTHING` of a duplicate are refused too rather than skipped silently.
    """
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION ketaflow_refuse_change()"
        ]
    if dialect == "sqlite":
        if not keys:
            raise ValueError(f"{table} needs at least one key to guard against REPLACE.")
        taken = " OR ".join(
            f"EXISTS (SELECT 1 FROM {table} WHERE " + " AND ".join(f"{c} = NEW.{c}" for c in key) + ")"
            for key in keys
        )
        return [
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} WHEN {taken} "
            f"BEGIN SELECT RAISE(ABORT, 'ketaflow: {table} row already exists (REPLACE or upsert); "
            f"{table} {REFUSAL_MARKER}, record an amendment instead'); END"
        ]
    raise ValueError(f"No append-only triggers for the {dialect} dialect.")


def drop_guard_sql(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}"]
    return [f"DROP TRIGGER IF EXISTS {table}_no_replace"]


def guarded_tables(bind: Any) -> list[str]:
    """The tables `bind`'s database refuses UPDATE and DELETE on (by their triggers' names)."""
    if bind.dialect.name == "postgresql":
        sql = (
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND t.tgname = c.relname || '_append_only' "
            "AND pg_table_is_visible(c.oid)"
        )
    else:
        sql = "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name = tbl_name || '_no_update'"
    return sorted(bind.execute(text(sql)).scalars())


def unique_keys(bind: Any, table: str) -> list[tuple[str, ...]]:
    """`table`'s primary key and unique keys (constraints and unique indexes), as column names."""
    inspector = inspect(bind)
    keys = [tuple(inspector.get_pk_constraint(table)["constrained_columns"])]
    keys += [tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)]
    keys += [tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]]
    return [k for i, k in enumerate(keys) if k and all(k) and k not in keys[:i]]
