"""hash chains over the append-only tables; chain heads and signed checkpoints

Revision ID: 0015_fact_chain
Revises: 0014_controlled_substances
Create Date: 2026-12-06 10:30:00

Issue 12, tamper evidence: every append-only table (clinical facts and the audit trail) gets
`chain_seq`, `prev_hash` and `row_hash` and a unique index on (clinic_id, chain_seq); the rows
already there are chained, oldest first, per table and clinic (`ketaflow.store.chain.rechain`,
with the UPDATE triggers off for the backfill only). `chain_heads` (mutable) holds each chain's
last place and hash; `chain_checkpoints` (append-only) their HMAC-signed checkpoints. On SQLite
the REPLACE guard of 0011 is rebuilt to cover the new unique index too (a REPLACE colliding on
it would otherwise delete the row it collides with).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ketaflow.store.types
from ketaflow.store.append_only import (
    create_guard_sql,
    create_trigger_sql,
    drop_guard_sql,
    drop_trigger_sql,
    guarded_tables,
    unique_keys,
)
from ketaflow.store.chain import rechain

revision: str = "0015_fact_chain"
down_revision: str | None = "0014_controlled_substances"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _reguard(bind: sa.Connection, table: str) -> None:
    dialect = bind.dialect.name
    if dialect == "sqlite":
        for statement in drop_guard_sql(dialect, table):
            op.execute(statement)
        for statement in create_guard_sql(dialect, table, unique_keys(bind, table)):
            op.execute(statement)


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    chained = guarded_tables(bind)  # every append-only table this schema has
    op.create_table(
        "chain_heads",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("table_name", "scope", name=op.f("pk_chain_heads")),
    )
    op.create_table(
        "chain_checkpoints",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("mac", sa.LargeBinary(length=32), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_checkpoints")),
    )
    op.create_index("ix_chain_checkpoints_chain", "chain_checkpoints", ["table_name", "scope", "seq"])
    for statement in create_trigger_sql(dialect, "chain_checkpoints"):
        op.execute(statement)
    for statement in create_guard_sql(dialect, "chain_checkpoints", unique_keys(bind, "chain_checkpoints")):
        op.execute(statement)

    for table in chained:
        op.add_column(table, sa.Column("chain_seq", sa.BigInteger(), nullable=True))
        op.add_column(table, sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=True))
        op.add_column(table, sa.Column("row_hash", sa.LargeBinary(length=32), nullable=True))
        for statement in drop_trigger_sql(dialect, table):
            op.execute(statement)
        rechain(bind, table)
        for statement in create_trigger_sql(dialect, table):
            op.execute(statement)
        op.create_index(f"ix_{table}_chain", table, ["clinic_id", "chain_seq"], unique=True)
        _reguard(bind, table)


def downgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    for table in guarded_tables(bind):
        if table == "chain_checkpoints":
            continue
        if dialect == "sqlite":
            for statement in drop_guard_sql(dialect, table):
                op.execute(statement)
        op.drop_index(f"ix_{table}_chain", table_name=table)
        for column in ("row_hash", "prev_hash", "chain_seq"):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        _reguard(bind, table)
    op.drop_index("ix_chain_checkpoints_chain", table_name="chain_checkpoints")
    op.drop_table("chain_checkpoints")
    op.drop_table("chain_heads")
