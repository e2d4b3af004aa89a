"""TOTP secrets sealed at rest; the sign-in log indexed by time (for its pruning)

Revision ID: 0013_totp_sealed
Revises: 0012_audit_shape
Create Date: 2026-12-06 10:30:00

Issue 11: `staff_users.mfa_secret` (the TOTP shared secret, base32, in the clear) becomes
`mfa_secret_sealed`, the same secret sealed with AES-GCM under a key kept outside the database
(ketaflow/secret_box.py: KETAFLOW_SECRET_KEY, else the data directory's secret.key). Every secret
stored is sealed here, so the upgrade needs the key the server will run with. Stepping down opens
them again; one this server's key cannot open is taken off (that person sets the factor up again).

`sign_in_attempts` gets an index on `attempted_at`: rows past their retention are removed after
each sign-in (services/sign_in_throttle.prune), and that delete must not scan the table.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_totp_sealed"
down_revision: str | None = "0012_audit_shape"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOTP_SEAL = "totp"  # as services/mfa.py seals them (tests/integration/store/test_totp_sealed_migration.py)


def _rows(column: str) -> list[tuple[object, str]]:
    found = op.get_bind().execute(sa.text(f"SELECT id, {column} FROM staff_users WHERE {column} IS NOT NULL"))
    return [(row[0], row[1]) for row in found]


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def upgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.alter_column(
            "mfa_secret",
            new_column_name="mfa_secret_sealed",
            existing_type=sa.String(length=64),
            type_=sa.String(length=200),
            existing_nullable=True,
        )
    clear = _rows("mfa_secret_sealed")
    if clear:
        from ketaflow.secret_box import context, seal

        for row_id, secret in clear:
            sealed = seal(secret, context=context(TOTP_SEAL, _uuid(row_id)))
            op.get_bind().execute(
                sa.text("UPDATE staff_users SET mfa_secret_sealed = :sealed WHERE id = :id"),
                {"sealed": sealed, "id": row_id},
            )
    with op.batch_alter_table("sign_in_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_sign_in_attempts_attempted_at", ["attempted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sign_in_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_attempts_attempted_at")
    sealed = _rows("mfa_secret_sealed")
    if sealed:
        from ketaflow.secret_box import SealBroken, context, open_sealed

        for row_id, value in sealed:
            try:
                opened: str | None = open_sealed(value, context=context(TOTP_SEAL, _uuid(row_id)))
            except SealBroken:
                opened = None
            op.get_bind().execute(
                sa.text(
                    "UPDATE staff_users SET mfa_secret_sealed = :secret"
                    + ("" if opened else ", mfa_enabled_at = NULL, mfa_last_step = NULL")
                    + " WHERE id = :id"
                ),
                {"secret": opened, "id": row_id},
            )
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.alter_column(
            "mfa_secret_sealed",
            new_column_name="mfa_secret",
            existing_type=sa.String(length=200),
            type_=sa.String(length=64),
            existing_nullable=True,
        )
