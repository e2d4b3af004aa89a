"""clinic opening hours, closures and booking horizon

Revision ID: 0006_clinic_hours
Revises: 0005
Create Date: 2026-12-05 09:00:00

Opening hours per clinic and weekday (`clinic_hours`), days a clinic is closed with the
reason (`clinic_closures`), and how far ahead a clinic takes bookings
(`clinics.booking_horizon_days`). Booking refuses times outside the hours and beyond the
horizon, so clinics that existed before this revision get hours here: Monday to Friday
08:00-18:30, the hours every clinic was assumed to keep until now. CLINIC POLICY, not a
clinical figure (see ketaflow.hours.weekly.DEFAULT_WEEK): a clinic keeping other hours
sets its own with `ketaflow clinic hours set` or PUT /api/clinics/{code}/hours. The
horizon defaults to 365 days (clinic policy, ketaflow.hours.calendar).
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ketaflow.store.types

revision: str = "0006_clinic_hours"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here, not imported, so the migration stays what it was when the code changes.
DEFAULT_OPENS_MIN = 8 * 60  # 08:00
DEFAULT_CLOSES_MIN = 18 * 60 + 30  # 18:30
DEFAULT_WEEKDAYS = (0, 1, 2, 3, 4)  # Monday to Friday


def upgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("booking_horizon_days", sa.Integer(), server_default="365", nullable=False)
        )

    hours = op.create_table(
        "clinic_hours",
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("opens_min", sa.Integer(), nullable=False),
        sa.Column("closes_min", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "opens_min >= 0 AND opens_min < closes_min AND closes_min <= 1440",
            name=op.f("ck_clinic_hours_span"),
        ),
        sa.CheckConstraint("weekday >= 0 AND weekday <= 6", name=op.f("ck_clinic_hours_weekday")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_clinic_hours_clinic_id_clinics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_hours")),
        sa.UniqueConstraint(
            "clinic_id", "weekday", "opens_min", name=op.f("uq_clinic_hours_clinic_id_weekday_opens_min")
        ),
    )
    with op.batch_alter_table("clinic_hours", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clinic_hours_clinic_id"), ["clinic_id"], unique=False)

    op.create_table(
        "clinic_closures",
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("first_day <= last_day", name=op.f("ck_clinic_closures_days")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_clinic_closures_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff_users.id"], name=op.f("fk_clinic_closures_created_by_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_closures")),
    )
    with op.batch_alter_table("clinic_closures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clinic_closures_clinic_id"), ["clinic_id"], unique=False)

    # Existing clinics keep the hours they were assumed to keep (clinic policy, see above).
    clinics = sa.table("clinics", sa.column("id", sa.Uuid()))
    ids = op.get_bind().execute(sa.select(clinics.c.id)).scalars().all()
    if not ids:
        return
    op.bulk_insert(
        hours,
        [
            {
                "id": uuid.uuid4(),
                "clinic_id": clinic_id,
                "weekday": weekday,
                "opens_min": DEFAULT_OPENS_MIN,
                "closes_min": DEFAULT_CLOSES_MIN,
            }
            for clinic_id in ids
            for weekday in DEFAULT_WEEKDAYS
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("clinic_closures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinic_closures_clinic_id"))
    op.drop_table("clinic_closures")
    with op.batch_alter_table("clinic_hours", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinic_hours_clinic_id"))
    op.drop_table("clinic_hours")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite (3.35+) drops a plain column in place. A batch rebuild of `clinics` would drop
        # the table every clinic-owned row refers to, which foreign keys refuse once it has data.
        op.execute("ALTER TABLE clinics DROP COLUMN booking_horizon_days")
    else:
        op.drop_column("clinics", "booking_horizon_days")
