"""Database-level refusal of UPDATE and DELETE on clinical facts.

The ORM never updates these rows, but a clinic's data outlives any one program: a
script, a console session or a bug must not be able to rewrite a charted vital sign
either. Triggers make the database itself refuse, on SQLite and on PostgreSQL. A
correction is a new row whose `amends_id` points at the row it corrects.
"""

from __future__ import annotations

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
