"""patient and staff messages: outbox, message settings, on-call psychiatrists, staff tasks

Revision ID: 0019_messages
Revises: 0018_hl7
Create Date: 2026-12-06 13:06:15

Issue 17: the durable outbox (one row per message, delivered by `ketaflow messages send`),
each patient's confirmed address and opt-outs, the on-call psychiatrist of each clinic, and the
tasks an alert gives them. A patient's link may now be issued by the outbox (no staff member):
patient_access_links.created_by_id becomes nullable. None of these tables is append-only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import ketaflow.store.types

revision: str = "0019_messages"
down_revision: str | None = "0018_hl7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "on_call_psychiatrists",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("set_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("set_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_on_call_psychiatrists_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["set_by_id"], ["staff_users.id"], name=op.f("fk_on_call_psychiatrists_set_by_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name=op.f("fk_on_call_psychiatrists_user_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_on_call_psychiatrists")),
        sa.UniqueConstraint("clinic_id", name=op.f("uq_on_call_psychiatrists_clinic_id")),
    )
    with op.batch_alter_table("on_call_psychiatrists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_on_call_psychiatrists_clinic_id"), ["clinic_id"], unique=False)

    op.create_table(
        "patient_message_settings",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("confirmed_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirm_token_sha256", sa.String(length=64), nullable=True),
        sa.Column(
            "opted_out",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_patient_message_settings_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_patient_message_settings_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_message_settings")),
        sa.UniqueConstraint(
            "confirm_token_sha256", name=op.f("uq_patient_message_settings_confirm_token_sha256")
        ),
        sa.UniqueConstraint("patient_id", name=op.f("uq_patient_message_settings_patient_id")),
    )
    with op.batch_alter_table("patient_message_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_message_settings_clinic_id"), ["clinic_id"], unique=False
        )

    op.create_table(
        "staff_tasks",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_to_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_id", sa.Uuid(), nullable=True),
        sa.Column("escalated_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_tasks_acknowledged_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"], ["staff_users.id"], name=op.f("fk_staff_tasks_assigned_to_id_staff_users")
        ),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"], name=op.f("fk_staff_tasks_clinic_id_clinics")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_staff_tasks_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_tasks")),
    )
    with op.batch_alter_table("staff_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_tasks_assigned_to_id"), ["assigned_to_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_tasks_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_tasks_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "outbox_messages",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("staff_user_id", sa.Uuid(), nullable=True),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("caused_by_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=64), nullable=True),
        sa.Column("sent_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("to_address", sa.String(length=254), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_outbox_messages_appointment_id_appointments"),
        ),
        sa.ForeignKeyConstraint(
            ["caused_by_id"], ["staff_users.id"], name=op.f("fk_outbox_messages_caused_by_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_outbox_messages_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_outbox_messages_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"], ["staff_users.id"], name=op.f("fk_outbox_messages_staff_user_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["staff_tasks.id"], name=op.f("fk_outbox_messages_task_id_staff_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_messages_dedupe_key")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_messages_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index("ix_outbox_messages_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_messages_patient_id"), ["patient_id"], unique=False)

    with op.batch_alter_table("patient_access_links", schema=None) as batch_op:
        batch_op.alter_column("created_by_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("patient_access_links", schema=None) as batch_op:
        batch_op.alter_column("created_by_id", existing_type=sa.Uuid(), nullable=False)

    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_messages_patient_id"))
        batch_op.drop_index("ix_outbox_messages_due")
        batch_op.drop_index(batch_op.f("ix_outbox_messages_clinic_id"))

    op.drop_table("outbox_messages")
    with op.batch_alter_table("staff_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_tasks_patient_id"))
        batch_op.drop_index(batch_op.f("ix_staff_tasks_clinic_id"))
        batch_op.drop_index(batch_op.f("ix_staff_tasks_assigned_to_id"))

    op.drop_table("staff_tasks")
    with op.batch_alter_table("patient_message_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_message_settings_clinic_id"))

    op.drop_table("patient_message_settings")
    with op.batch_alter_table("on_call_psychiatrists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_on_call_psychiatrists_clinic_id"))

    op.drop_table("on_call_psychiatrists")
