"""outcome summaries: each clinic's outcome-dashboard aggregates as of a refresh

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 19:50:00

A derived table (not a clinical fact): the outcomes dashboard over a large network on
PostgreSQL reads these per-clinic aggregates instead of scanning millions of infusions.
Refreshed by `ketaflow.services.outcomes.summary.refresh_outcome_summaries`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ketaflow.store.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outcome_summaries",
        sa.Column("definitions_key", sa.String(length=64), nullable=False),
        sa.Column("computed_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "figures",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_outcome_summaries_clinic_id_clinics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_summaries")),
        sa.UniqueConstraint(
            "clinic_id", "definitions_key", name=op.f("uq_outcome_summaries_clinic_id_definitions_key")
        ),
    )
    with op.batch_alter_table("outcome_summaries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outcome_summaries_clinic_id"), ["clinic_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outcome_summaries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcome_summaries_clinic_id"))
    op.drop_table("outcome_summaries")
