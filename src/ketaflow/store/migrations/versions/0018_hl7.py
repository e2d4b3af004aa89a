"""bedside monitors over HL7 v2: the monitor registry, message receipts and dead letters

Revision ID: 0018_hl7
Revises: 0017_fhir
Create Date: 2026-12-06 13:15:00

Issue 16: `monitors` (per clinic and chair, known by device id and/or gateway location),
`hl7_receipts` (each charted message once, by sender and control id), `hl7_dead_letters` (the
messages that could not be charted, for an administrator to see and replay), `hl7_outbox` (the
clinic's messages out, kept until acknowledged), and on
`vital_signs` the monitor and message control id of a monitor's reading and `artefact` (set on
the amendment by which a nurse marks a monitor's reading as artefact); an index finding the
infusion in a chair at a moment. The new columns are NULL in every row already charted, so those
rows' chain hashes are unchanged (chain.py leaves NULLs out of the hash); on SQLite they are added
with ALTER TABLE ... ADD COLUMN, which keeps
the append-only triggers (a table rebuild would drop them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ketaflow.store.types

revision: str = "0018_hl7"
down_revision: str | None = "0017_fhir"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("chair_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.String(length=199), nullable=True),
        sa.Column("location", sa.String(length=120), nullable=True),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["chair_id"], ["chairs.id"], name=op.f("fk_monitors_chair_id_chairs")),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"], name=op.f("fk_monitors_clinic_id_clinics")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff_users.id"], name=op.f("fk_monitors_created_by_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("device_id", name=op.f("uq_monitors_device_id")),
        sa.UniqueConstraint("location", name=op.f("uq_monitors_location")),
    )
    op.create_index(op.f("ix_monitors_chair_id"), "monitors", ["chair_id"], unique=False)
    op.create_index(op.f("ix_monitors_clinic_id"), "monitors", ["clinic_id"], unique=False)
    op.create_table(
        "hl7_receipts",
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("control_id", sa.String(length=199), nullable=False),
        sa.Column("monitor_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("readings", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_hl7_receipts_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["monitor_id"], ["monitors.id"], name=op.f("fk_hl7_receipts_monitor_id_monitors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hl7_receipts")),
        sa.UniqueConstraint("sender", "control_id", name=op.f("uq_hl7_receipts_sender_control_id")),
    )
    op.create_index(op.f("ix_hl7_receipts_clinic_id"), "hl7_receipts", ["clinic_id"], unique=False)
    op.create_table(
        "hl7_dead_letters",
        sa.Column("clinic_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("peer", sa.String(length=100), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("control_id", sa.String(length=199), nullable=False),
        sa.Column("ack_code", sa.String(length=2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("location_in_message", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("resolved_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolution", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_hl7_dead_letters_clinic_id_clinics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hl7_dead_letters")),
    )
    op.create_index(op.f("ix_hl7_dead_letters_clinic_id"), "hl7_dead_letters", ["clinic_id"], unique=False)
    op.create_index(
        "ix_hl7_dead_letters_open", "hl7_dead_letters", ["resolved_at", "received_at"], unique=False
    )

    op.create_table(
        "hl7_outbox",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("control_id", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("enqueued_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acked_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ack_code", sa.String(length=2), nullable=True),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"], name=op.f("fk_hl7_outbox_clinic_id_clinics")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_hl7_outbox_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hl7_outbox")),
        sa.UniqueConstraint("control_id", name=op.f("uq_hl7_outbox_control_id")),
    )
    op.create_index(op.f("ix_hl7_outbox_clinic_id"), "hl7_outbox", ["clinic_id"], unique=False)
    op.create_index(op.f("ix_hl7_outbox_patient_id"), "hl7_outbox", ["patient_id"], unique=False)
    op.create_index(
        "ix_hl7_outbox_pending", "hl7_outbox", ["acked_at", "patient_id", "enqueued_at"], unique=False
    )

    fk_name = op.f("fk_vital_signs_monitor_id_monitors")
    if op.get_bind().dialect.name == "sqlite":  # ADD COLUMN ... REFERENCES: no table rebuild
        op.execute(
            "ALTER TABLE vital_signs ADD COLUMN monitor_id CHAR(32) "
            f"CONSTRAINT {fk_name} REFERENCES monitors (id)"
        )
    else:
        op.add_column("vital_signs", sa.Column("monitor_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(fk_name, "vital_signs", "monitors", ["monitor_id"], ["id"])
    op.add_column("vital_signs", sa.Column("message_control_id", sa.String(length=199), nullable=True))
    op.add_column("vital_signs", sa.Column("artefact", sa.Boolean(), nullable=True))
    op.create_index("ix_infusion_sessions_chair_opened", "infusion_sessions", ["chair_id", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_infusion_sessions_chair_opened", table_name="infusion_sessions")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_vital_signs_monitor_id_monitors"), "vital_signs", type_="foreignkey")
    # SQLite >= 3.35 drops a column in place (no rebuild; the append-only triggers stay).
    op.execute("ALTER TABLE vital_signs DROP COLUMN artefact")
    op.execute("ALTER TABLE vital_signs DROP COLUMN message_control_id")
    op.execute("ALTER TABLE vital_signs DROP COLUMN monitor_id")
    op.drop_index("ix_hl7_outbox_pending", table_name="hl7_outbox")
    op.drop_index(op.f("ix_hl7_outbox_patient_id"), table_name="hl7_outbox")
    op.drop_index(op.f("ix_hl7_outbox_clinic_id"), table_name="hl7_outbox")
    op.drop_table("hl7_outbox")
    op.drop_index("ix_hl7_dead_letters_open", table_name="hl7_dead_letters")
    op.drop_index(op.f("ix_hl7_dead_letters_clinic_id"), table_name="hl7_dead_letters")
    op.drop_table("hl7_dead_letters")
    op.drop_index(op.f("ix_hl7_receipts_clinic_id"), table_name="hl7_receipts")
    op.drop_table("hl7_receipts")
    op.drop_index(op.f("ix_monitors_clinic_id"), table_name="monitors")
    op.drop_index(op.f("ix_monitors_chair_id"), table_name="monitors")
    op.drop_table("monitors")
