"""the clinic's DEA registration number

Revision ID: 0016_clinic_dea
Revises: 0015_fact_chain
Create Date: 2026-12-06 13:40:00

Issue 14: every clinic of the network is a DEA registrant; its registration number heads the
biennial inventory and the draft theft-or-loss report (DEA Form 106). Nullable: a clinic
that has not entered it yet sees the reports say what is missing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_clinic_dea"
down_revision: str | None = "0015_fact_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(sa.Column("dea_registration", sa.String(length=9), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.drop_column("dea_registration")
