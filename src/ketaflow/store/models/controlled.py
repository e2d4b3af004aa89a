"""Controlled-substance stock and its ledger (issue 14): products, safes, lots, vials, entries.

Ketamine is Schedule III; every clinic accounts for each milligram from delivery to the pump
or a witnessed waste. Lots and vials are written once at receipt and never change; the
ledger is append-only like every clinical fact (the database refuses UPDATE and DELETE). A
mistake in the ledger is put right by an `adjustment` entry with a reason and a witness, so
the history an inspector reads is the history as it happened. The rules live in
`ketaflow.controlled`; `ketaflow.services.controlled` checks each entry against them before
writing it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.controlled.ledger import EntryKind
from ketaflow.store.models.base import Base, Chained, ClinicalFact, ClinicOwned, Identified, utcnow
from ketaflow.store.types import JSONType, enum_column

# Milligrams and millilitres to the thousandth, exactly (a lot balances to the milligram).
Quantity = Numeric(14, 3, asdecimal=True)


class DrugProduct(Identified, ClinicOwned, Base):
    """A stocked product: its NDC, strength and vial (e.g. ketamine 50 mg/mL, 10 mL multi-dose vial)."""

    __tablename__ = "drug_products"
    __table_args__ = (
        UniqueConstraint("clinic_id", "ndc"),
        CheckConstraint("mg_per_ml > 0 AND vial_ml > 0", name="strength"),
    )

    ndc: Mapped[str] = mapped_column(String(13))  # 11 digits in the 5-4-2 form with hyphens
    name: Mapped[str] = mapped_column(String(160))
    mg_per_ml: Mapped[Decimal] = mapped_column(Quantity)
    vial_ml: Mapped[Decimal] = mapped_column(Quantity)
    multi_dose: Mapped[bool] = mapped_column(Boolean)
    # The maker's in-use period after opening when its label gives one (else 28 days).
    maker_in_use_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StorageLocation(Identified, ClinicOwned, Base):
    """A locked place controlled substances are kept in (the safe)."""

    __tablename__ = "storage_locations"
    __table_args__ = (UniqueConstraint("clinic_id", "name"),)

    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DrugLot(Chained, Identified, ClinicOwned, Base):
    """A manufacturer's lot as received: written once, at receipt."""

    __tablename__ = "drug_lots"
    __append_only__ = True
    __table_args__ = (UniqueConstraint("clinic_id", "product_id", "lot_number"),)

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drug_products.id"), index=True)
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("storage_locations.id"))
    lot_number: Mapped[str] = mapped_column(String(40))
    expires_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))


class DrugVial(Chained, Identified, ClinicOwned, Base):
    """One vial of a lot, numbered within it: written once, at receipt."""

    __tablename__ = "drug_vials"
    __append_only__ = True
    __table_args__ = (UniqueConstraint("lot_id", "number"), CheckConstraint("content_mg > 0", name="content"))

    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drug_lots.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    content_mg: Mapped[Decimal] = mapped_column(Quantity)


class LedgerEntry(ClinicalFact, Base):
    """One movement of a controlled substance (see `ketaflow.controlled.ledger` for the kinds).

    `recorded_by_id` is the person who did it; `witness_id` the second person who signed in
    themselves to witness it (waste, destruction, adjustment, count). `details` holds what
    the kind's paperwork needs: for a receipt the supplier, its DEA number and the invoice;
    for a destruction the reverse distributor and the DEA Form 41 fields.
    """

    __tablename__ = "controlled_ledger"
    __table_args__ = (
        Index("ix_controlled_ledger_clinic_time", "clinic_id", "occurred_at"),
        CheckConstraint("witness_id IS NULL OR witness_id <> recorded_by_id", name="two_people"),
    )

    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind))
    occurred_at: Mapped[datetime]
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drug_lots.id"), index=True)
    vial_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("drug_vials.id"))
    quantity_mg: Mapped[Decimal] = mapped_column(Quantity)
    quantity_ml: Mapped[Decimal | None] = mapped_column(Quantity)
    witness_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    # The draw an `administered` or bag `waste` entry closes.
    draw_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("controlled_ledger.id"), index=True)
    dose_order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dose_orders.id"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
