"""maintenance checks; the 'defer' screening level

Revision ID: 0008_maintenance_checks
Revises: 0007_discharge_sedation
Create Date: 2026-12-06 12:00:00

Issue 13: periodic checks for patients on maintenance (liver tests, bladder-symptom
screening) are charted as append-only facts, and a consultation may record the new screening
level 'defer' (a blood pressure at which a running infusion would pause: not startable today).
The level is a CHECK constraint on consultations.screening_level; SQLite cannot alter a CHECK,
so there the table is rebuilt (batch mode), which loses its triggers and partial index: both
are put back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ketaflow.store.types
from ketaflow.store.append_only import create_trigger_sql, drop_trigger_sql

revision: str = "0008_maintenance_checks"
down_revision: str | None = "0007_discharge_sedation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen lists: what this revision knows, not what the models say later.
LEVELS_BEFORE = ("clear", "information", "caution", "psychiatrist_review", "contraindicated")
LEVELS_AFTER = ("clear", "information", "caution", "psychiatrist_review", "defer", "contraindicated")
CHECK = "ck_consultations_ck_screeninglevel"
AMENDMENTS_ONLY = sa.text("amends_id IS NOT NULL")


def _levels_sql(levels: Sequence[str]) -> str:
    return "screening_level IN (" + ", ".join(f"'{v}'" for v in levels) + ")"


def _set_levels(levels: Sequence[str]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.drop_constraint(op.f(CHECK), "consultations", type_="check")
        op.create_check_constraint(op.f(CHECK), "consultations", _levels_sql(levels))
        return
    for statement in drop_trigger_sql(dialect, "consultations"):
        op.execute(statement)
    # The rebuild drops the old table while rows of other tables point at its rows: migrations
    # run on SQLite with foreign keys off and checked in full before commit (store/migrate.py).
    with op.batch_alter_table("consultations", recreate="always") as batch_op:
        batch_op.drop_constraint(op.f(CHECK), type_="check")
        batch_op.create_check_constraint(op.f(CHECK), _levels_sql(levels))
    # The rebuild keeps plain indexes but not the partial one's WHERE: put it back as it was.
    op.drop_index("ix_consultations_amends_id", table_name="consultations", if_exists=True)
    op.create_index(
        "ix_consultations_amends_id",
        "consultations",
        ["amends_id"],
        sqlite_where=AMENDMENTS_ONLY,
        postgresql_where=AMENDMENTS_ONLY,
    )
    for statement in create_trigger_sql(dialect, "consultations"):
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "monitoring_checks",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("recorded_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("amendment_reason", sa.Text(), nullable=True),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("amends_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["amends_id"],
            ["monitoring_checks.id"],
            name=op.f("fk_monitoring_checks_amends_id_monitoring_checks"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_monitoring_checks_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_monitoring_checks_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["staff_users.id"],
            name=op.f("fk_monitoring_checks_recorded_by_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_checks")),
    )
    op.create_index(
        "ix_monitoring_checks_amends_id",
        "monitoring_checks",
        ["amends_id"],
        sqlite_where=AMENDMENTS_ONLY,
        postgresql_where=AMENDMENTS_ONLY,
    )
    op.create_index(op.f("ix_monitoring_checks_clinic_id"), "monitoring_checks", ["clinic_id"])
    op.create_index(op.f("ix_monitoring_checks_patient_id"), "monitoring_checks", ["patient_id"])
    op.create_index(
        "ix_monitoring_checks_patient_kind", "monitoring_checks", ["patient_id", "kind", "done_on"]
    )
    dialect = op.get_bind().dialect.name
    for statement in create_trigger_sql(dialect, "monitoring_checks"):
        op.execute(statement)
    _set_levels(LEVELS_AFTER)


def downgrade() -> None:
    _set_levels(LEVELS_BEFORE)
    dialect = op.get_bind().dialect.name
    for statement in drop_trigger_sql(dialect, "monitoring_checks"):
        op.execute(statement)
    op.drop_index("ix_monitoring_checks_patient_kind", table_name="monitoring_checks")
    op.drop_index(op.f("ix_monitoring_checks_patient_id"), table_name="monitoring_checks")
    op.drop_index(op.f("ix_monitoring_checks_clinic_id"), table_name="monitoring_checks")
    op.drop_index("ix_monitoring_checks_amends_id", table_name="monitoring_checks")
    op.drop_table("monitoring_checks")
