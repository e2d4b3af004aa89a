"""FHIR bulk export jobs may ask for the de-identified research variant

Revision ID: 0020_fhir_deidentify
Revises: 0019_messages
Create Date: 2026-12-06 17:00:00

Issue 15: `GET /fhir/$export?deidentify=true` stores the choice on the job, so a job resumed
after a restart writes the same variant.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_fhir_deidentify"
down_revision: str | None = "0019_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fhir_export_jobs") as batch:
        batch.add_column(sa.Column("deidentified", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("fhir_export_jobs") as batch:
        batch.drop_column("deidentified")
