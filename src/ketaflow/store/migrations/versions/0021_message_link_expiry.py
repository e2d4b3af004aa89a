"""when a patient's address-confirmation link expires

Revision ID: 0021_message_link_expiry
Revises: 0020_fhir_deidentify
Create Date: 2026-12-06 17:00:00

Issue 17: every link in a message is one-time and expires. The confirmation link was one-time
(its digest is cleared when used) but never expired; it now expires with the lifetime of the
patient's page links (services/patient_access.LINK_VALID_DAYS) after it was sent. Nullable: a
link sent before this revision has no recorded expiry and is refused (ask for a new one).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ketaflow.store.types

revision: str = "0021_message_link_expiry"
down_revision: str | None = "0020_fhir_deidentify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patient_message_settings") as batch:
        batch.add_column(
            sa.Column("confirm_expires_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("patient_message_settings") as batch:
        batch.drop_column("confirm_expires_at")
