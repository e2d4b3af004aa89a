"""close the ways around the append-only triggers

Revision ID: 0011_append_only_holes
Revises: 0010_staff_accounts
Create Date: 2026-12-06 08:30:00

Issue 12: the UPDATE/DELETE triggers could be sidestepped. On SQLite, `REPLACE INTO` /
`INSERT OR REPLACE` deletes the old row without firing DELETE triggers (unless the
connection turned on `recursive_triggers`, which a console session does not), so a charted
vital sign could be rewritten under the same id; on PostgreSQL, TRUNCATE fires no row
triggers and emptied the audit trail. Every table this database already refuses UPDATE and
DELETE on gets the guard of `ketaflow.store.append_only.create_guard_sql`: a BEFORE INSERT
trigger refusing a taken primary or unique key on SQLite, a BEFORE TRUNCATE trigger on
PostgreSQL. The tables are read from the database (their `_no_update` / `_append_only`
triggers), so the guard covers exactly what the earlier revisions made append-only.
"""

from collections.abc import Sequence

from alembic import op

from ketaflow.store.append_only import create_guard_sql, drop_guard_sql, guarded_tables, unique_keys

revision: str = "0011_append_only_holes"
down_revision: str | None = "0010_staff_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    for table in guarded_tables(bind):
        for statement in create_guard_sql(dialect, table, unique_keys(bind, table)):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for table in guarded_tables(bind):
        for statement in drop_guard_sql(bind.dialect.name, table):
            op.execute(statement)
