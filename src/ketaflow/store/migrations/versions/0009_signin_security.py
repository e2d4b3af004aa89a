"""sign-in security: a throttle that reserves before it checks; idle sessions; session epochs

Revision ID: 0009_signin_security
Revises: 0008_maintenance_checks
Create Date: 2026-12-06 08:00:00

Issue 11: failed sign-ins are counted in `sign_in_throttles` (one row per budget: account and
address, address, account) before the password is checked; sessions record when they were
last used (idle timeout) and the user's session epoch when they began (raised to end every
session of a user at once). Sessions open at the upgrade count as last used when they began.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ketaflow.store.types

revision: str = "0009_signin_security"
down_revision: str | None = "0008_maintenance_checks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttles",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_throttles")),
    )
    op.create_index(op.f("ix_sign_in_throttles_key"), "sign_in_throttles", ["key"])
    op.create_index(
        op.f("ix_sign_in_throttles_window_started_at"), "sign_in_throttles", ["window_started_at"]
    )
    op.add_column("staff_users", sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
    op.add_column("web_sessions", sa.Column("user_epoch", sa.Integer(), server_default="0", nullable=False))
    op.add_column(
        "web_sessions",
        sa.Column("last_seen_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.execute("UPDATE web_sessions SET last_seen_at = created_at")
    with op.batch_alter_table("web_sessions") as batch_op:
        batch_op.alter_column(
            "last_seen_at", existing_type=ketaflow.store.types.UTCDateTime(timezone=True), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch_op:
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("user_epoch")
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.drop_column("session_epoch")
    op.drop_index(op.f("ix_sign_in_throttles_window_started_at"), table_name="sign_in_throttles")
    op.drop_index(op.f("ix_sign_in_throttles_key"), table_name="sign_in_throttles")
    op.drop_table("sign_in_throttles")
