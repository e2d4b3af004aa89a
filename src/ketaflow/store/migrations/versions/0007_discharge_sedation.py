"""discharge screen and sedation: MOAA/S on vitals, mental status and suicide-risk screen at discharge

Revision ID: 0007_discharge_sedation
Revises: 0006_clinic_hours
Create Date: 2026-12-06 04:05:25

- `vital_signs.sedation_score`: the sedation scale's level charted with each set of vitals
  (MOAA/S by default, clinical/rules/vitals.toml).
- `discharges.mental_status`, `discharges.suicidal_ideation`: what the discharge check found
  (baseline | altered, none | present); `discharges.suicide_risk_assessment`: the
  psychiatrist's assessment when they discharge a patient with ideation present.
- `discharge_screens`: a discharge check that found suicidal ideation, kept although the
  discharge is refused (append-only like every clinical fact, with the partial amends_id index).

Rows charted before this revision read NULL in the new columns: "not recorded". The new
columns are added in place (no table copy), so the existing triggers and partial indexes
stay; stepping down drops them in place too (SQLite 3.35+ drops a column without a copy).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ketaflow.store.types
from ketaflow.store.append_only import create_trigger_sql, drop_trigger_sql

revision: str = "0007_discharge_sedation"
down_revision: str | None = "0006_clinic_hours"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AMENDMENTS_ONLY = sa.text("amends_id IS NOT NULL")
# The new discharge columns, each added NULL (not recorded) for the discharges already charted.
DISCHARGE_COLUMNS: tuple[tuple[str, sa.String], ...] = (
    ("mental_status", sa.String(length=16)),
    ("suicidal_ideation", sa.String(length=16)),
    ("suicide_risk_assessment", sa.Text()),  # Text is a String without a length
)


def upgrade() -> None:
    op.create_table(
        "discharge_screens",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("screened_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("suicidal_ideation", sa.String(length=16), nullable=False),
        sa.Column("mental_status", sa.String(length=16), nullable=True),
        sa.Column("recorded_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("amendment_reason", sa.Text(), nullable=True),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("amends_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["amends_id"],
            ["discharge_screens.id"],
            name=op.f("fk_discharge_screens_amends_id_discharge_screens"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_discharge_screens_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["staff_users.id"],
            name=op.f("fk_discharge_screens_recorded_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_discharge_screens_session_id_infusion_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discharge_screens")),
    )
    op.create_index(
        "ix_discharge_screens_amends_id",
        "discharge_screens",
        ["amends_id"],
        sqlite_where=AMENDMENTS_ONLY,
        postgresql_where=AMENDMENTS_ONLY,
    )
    op.create_index(op.f("ix_discharge_screens_clinic_id"), "discharge_screens", ["clinic_id"])
    op.create_index(op.f("ix_discharge_screens_session_id"), "discharge_screens", ["session_id"])
    dialect = op.get_bind().dialect.name
    for statement in create_trigger_sql(dialect, "discharge_screens"):
        op.execute(statement)

    for name, kind in DISCHARGE_COLUMNS:
        op.add_column("discharges", sa.Column(name, kind, nullable=True))
    op.add_column("vital_signs", sa.Column("sedation_score", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("vital_signs", "sedation_score")
    for name, _kind in reversed(DISCHARGE_COLUMNS):
        op.drop_column("discharges", name)
    dialect = op.get_bind().dialect.name
    for statement in drop_trigger_sql(dialect, "discharge_screens"):
        op.execute(statement)
    op.drop_table("discharge_screens")
