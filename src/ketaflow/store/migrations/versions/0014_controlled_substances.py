"""controlled-substance stock and ledger

Revision ID: 0014_controlled_substances
Revises: 0013_totp_sealed
Create Date: 2026-12-06 10:20:00

Issue 14: products, safes (storage locations), lots and vials as received, and the
append-only ledger of every movement of ketamine (receipt, draw, administered, waste,
destruction, adjustment, count). Lots, vials and ledger entries are written once: each gets
the append-only triggers and the REPLACE/TRUNCATE guards of `ketaflow.store.append_only`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import ketaflow.store.types
from ketaflow.store.append_only import (
    create_guard_sql,
    create_trigger_sql,
    drop_guard_sql,
    drop_trigger_sql,
    unique_keys,
)

revision: str = "0014_controlled_substances"
down_revision: str | None = "0013_totp_sealed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: the tables this revision makes append-only.
WRITTEN_ONCE = ("drug_lots", "drug_vials", "controlled_ledger")


def upgrade() -> None:
    op.create_table(
        "drug_products",
        sa.Column("ndc", sa.String(length=13), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("mg_per_ml", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("vial_ml", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("multi_dose", sa.Boolean(), nullable=False),
        sa.Column("maker_in_use_days", sa.Integer(), nullable=True),
        sa.Column("created_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("mg_per_ml > 0 AND vial_ml > 0", name=op.f("ck_drug_products_strength")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_drug_products_clinic_id_clinics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drug_products")),
        sa.UniqueConstraint("clinic_id", "ndc", name=op.f("uq_drug_products_clinic_id_ndc")),
    )
    op.create_index(op.f("ix_drug_products_clinic_id"), "drug_products", ["clinic_id"], unique=False)
    op.create_table(
        "storage_locations",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("created_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_storage_locations_clinic_id_clinics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_locations")),
        sa.UniqueConstraint("clinic_id", "name", name=op.f("uq_storage_locations_clinic_id_name")),
    )
    op.create_index(op.f("ix_storage_locations_clinic_id"), "storage_locations", ["clinic_id"], unique=False)
    op.create_table(
        "drug_lots",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("location_id", sa.Uuid(), nullable=False),
        sa.Column("lot_number", sa.String(length=40), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"], name=op.f("fk_drug_lots_clinic_id_clinics")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["storage_locations.id"], name=op.f("fk_drug_lots_location_id_storage_locations")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["drug_products.id"], name=op.f("fk_drug_lots_product_id_drug_products")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["staff_users.id"], name=op.f("fk_drug_lots_recorded_by_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drug_lots")),
        sa.UniqueConstraint(
            "clinic_id", "product_id", "lot_number", name=op.f("uq_drug_lots_clinic_id_product_id_lot_number")
        ),
    )
    op.create_index(op.f("ix_drug_lots_clinic_id"), "drug_lots", ["clinic_id"], unique=False)
    op.create_index(op.f("ix_drug_lots_product_id"), "drug_lots", ["product_id"], unique=False)
    op.create_table(
        "drug_vials",
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content_mg", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("content_mg > 0", name=op.f("ck_drug_vials_content")),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinics.id"], name=op.f("fk_drug_vials_clinic_id_clinics")),
        sa.ForeignKeyConstraint(["lot_id"], ["drug_lots.id"], name=op.f("fk_drug_vials_lot_id_drug_lots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drug_vials")),
        sa.UniqueConstraint("lot_id", "number", name=op.f("uq_drug_vials_lot_id_number")),
    )
    op.create_index(op.f("ix_drug_vials_clinic_id"), "drug_vials", ["clinic_id"], unique=False)
    op.create_index(op.f("ix_drug_vials_lot_id"), "drug_vials", ["lot_id"], unique=False)
    op.create_table(
        "controlled_ledger",
        sa.Column(
            "kind",
            sa.Enum(
                "receipt",
                "draw",
                "administered",
                "waste",
                "destruction",
                "adjustment",
                "count",
                name="ck_entrykind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("occurred_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("vial_id", sa.Uuid(), nullable=True),
        sa.Column("quantity_mg", sa.Numeric(precision=14, scale=3), nullable=False),
        sa.Column("quantity_ml", sa.Numeric(precision=14, scale=3), nullable=True),
        sa.Column("witness_id", sa.Uuid(), nullable=True),
        sa.Column("draw_id", sa.Uuid(), nullable=True),
        sa.Column("dose_order_id", sa.Uuid(), nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("recorded_at", ketaflow.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("amendment_reason", sa.Text(), nullable=True),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("amends_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "witness_id IS NULL OR witness_id <> recorded_by_id", name=op.f("ck_controlled_ledger_two_people")
        ),
        sa.ForeignKeyConstraint(
            ["amends_id"],
            ["controlled_ledger.id"],
            name=op.f("fk_controlled_ledger_amends_id_controlled_ledger"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_controlled_ledger_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["dose_order_id"], ["dose_orders.id"], name=op.f("fk_controlled_ledger_dose_order_id_dose_orders")
        ),
        sa.ForeignKeyConstraint(
            ["draw_id"], ["controlled_ledger.id"], name=op.f("fk_controlled_ledger_draw_id_controlled_ledger")
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["drug_lots.id"], name=op.f("fk_controlled_ledger_lot_id_drug_lots")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_controlled_ledger_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["staff_users.id"],
            name=op.f("fk_controlled_ledger_recorded_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_sessions.id"],
            name=op.f("fk_controlled_ledger_session_id_infusion_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["vial_id"], ["drug_vials.id"], name=op.f("fk_controlled_ledger_vial_id_drug_vials")
        ),
        sa.ForeignKeyConstraint(
            ["witness_id"], ["staff_users.id"], name=op.f("fk_controlled_ledger_witness_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controlled_ledger")),
    )
    op.create_index(
        "ix_controlled_ledger_amends_id",
        "controlled_ledger",
        ["amends_id"],
        unique=False,
        sqlite_where=sa.text("amends_id IS NOT NULL"),
        postgresql_where=sa.text("amends_id IS NOT NULL"),
    )
    op.create_index(op.f("ix_controlled_ledger_clinic_id"), "controlled_ledger", ["clinic_id"], unique=False)
    op.create_index(
        "ix_controlled_ledger_clinic_time", "controlled_ledger", ["clinic_id", "occurred_at"], unique=False
    )
    op.create_index(op.f("ix_controlled_ledger_draw_id"), "controlled_ledger", ["draw_id"], unique=False)
    op.create_index(op.f("ix_controlled_ledger_lot_id"), "controlled_ledger", ["lot_id"], unique=False)
    op.create_index(
        op.f("ix_controlled_ledger_session_id"), "controlled_ledger", ["session_id"], unique=False
    )

    bind = op.get_bind()
    for table in WRITTEN_ONCE:
        for statement in create_trigger_sql(bind.dialect.name, table):
            op.execute(statement)
        for statement in create_guard_sql(bind.dialect.name, table, unique_keys(bind, table)):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for table in WRITTEN_ONCE:
        for statement in drop_guard_sql(bind.dialect.name, table) + drop_trigger_sql(
            bind.dialect.name, table
        ):
            op.execute(statement)
    op.drop_index(op.f("ix_controlled_ledger_session_id"), table_name="controlled_ledger")
    op.drop_index(op.f("ix_controlled_ledger_lot_id"), table_name="controlled_ledger")
    op.drop_index(op.f("ix_controlled_ledger_draw_id"), table_name="controlled_ledger")
    op.drop_index("ix_controlled_ledger_clinic_time", table_name="controlled_ledger")
    op.drop_index(op.f("ix_controlled_ledger_clinic_id"), table_name="controlled_ledger")
    op.drop_index(
        "ix_controlled_ledger_amends_id",
        table_name="controlled_ledger",
        sqlite_where=sa.text("amends_id IS NOT NULL"),
        postgresql_where=sa.text("amends_id IS NOT NULL"),
    )
    op.drop_table("controlled_ledger")
    op.drop_index(op.f("ix_drug_vials_lot_id"), table_name="drug_vials")
    op.drop_index(op.f("ix_drug_vials_clinic_id"), table_name="drug_vials")
    op.drop_table("drug_vials")
    op.drop_index(op.f("ix_drug_lots_product_id"), table_name="drug_lots")
    op.drop_index(op.f("ix_drug_lots_clinic_id"), table_name="drug_lots")
    op.drop_table("drug_lots")
    op.drop_index(op.f("ix_storage_locations_clinic_id"), table_name="storage_locations")
    op.drop_table("storage_locations")
    op.drop_index(op.f("ix_drug_products_clinic_id"), table_name="drug_products")
    op.drop_table("drug_products")
