"""FHIR bulk export jobs, SMART Backend Services clients and tokens

Revision ID: 0017_fhir
Revises: 0016_clinic_dea
Create Date: 2026-12-06 13:45:00

Issue 15: one row per FHIR Bulk Data `$export` kick-off (services/fhir_bulk.py): who asked, for
which clinics, types and since when; its progress, the files written, or why it failed. Not a
clinical fact: its status and progress are updated as the job runs. And the registered SMART
Backend Services clients (public keys, scopes, clinics) with the short-lived tokens issued to them
(only each token's SHA-256; the assertion's jti, never accepted twice).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ketaflow.store.types

revision: str = "0017_fhir"
down_revision: str | None = "0016_clinic_dea"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "fhir_export_jobs",
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("clinic_ids", _json(), nullable=False),
        sa.Column("types", _json(), nullable=True),
        sa.Column("since", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("request_url", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by_client", sa.String(length=64), nullable=True),
        sa.Column("created_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("patients", sa.Integer(), nullable=False),
        sa.Column("output", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["staff_users.id"],
            name=op.f("fk_fhir_export_jobs_requested_by_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_export_jobs")),
    )
    op.create_index(op.f("ix_fhir_export_jobs_status"), "fhir_export_jobs", ["status"], unique=False)
    op.create_table(
        "fhir_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("jwks", _json(), nullable=False),
        sa.Column("scopes", sa.String(length=400), nullable=False),
        sa.Column("clinic_ids", _json(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_fhir_clients_client_id")),
    )
    op.create_table(
        "fhir_access_tokens",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("client_row_id", sa.Uuid(), nullable=False),
        sa.Column("assertion_jti", sa.String(length=255), nullable=False),
        sa.Column("scopes", sa.String(length=400), nullable=False),
        sa.Column("created_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_row_id"],
            ["fhir_clients.id"],
            name=op.f("fk_fhir_access_tokens_client_row_id_fhir_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_access_tokens")),
        sa.UniqueConstraint(
            "client_row_id", "assertion_jti", name=op.f("uq_fhir_access_tokens_client_row_id_assertion_jti")
        ),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_fhir_access_tokens_token_sha256")),
    )
    op.create_index(
        op.f("ix_fhir_access_tokens_client_row_id"), "fhir_access_tokens", ["client_row_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_fhir_access_tokens_client_row_id"), table_name="fhir_access_tokens")
    op.drop_table("fhir_access_tokens")
    op.drop_table("fhir_clients")
    op.drop_index(op.f("ix_fhir_export_jobs_status"), table_name="fhir_export_jobs")
    op.drop_table("fhir_export_jobs")
