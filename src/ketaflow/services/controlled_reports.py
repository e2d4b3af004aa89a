"""Controlled-substance reports beyond the ledger itself (issue 14): the biennial inventory,
the draft theft-or-loss report (DEA Form 106), the vials that may go to the reverse
distributor, and the clinic's DEA registration number that heads them.

The rules and the report shapes live in `ketaflow.controlled` (inventory, losses,
registration); this module reads the store, checks who may see it, and audits the read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.controlled.inventory import Inventory, Product, biennial_inventory
from ketaflow.controlled.ledger import EntryKind, Lot, Vial
from ketaflow.controlled.losses import AdjustmentCause, Form106Draft, LostSubstance, Registrant, form_106
from ketaflow.controlled.registration import normal_dea_number
from ketaflow.errors import NotFound
from ketaflow.hours.local_time import at_wall_clock
from ketaflow.services.audit import Actor, record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.controlled import MG, _check_dea, _entry, _ledger, _lot
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write

MINUTES_PER_DAY = 24 * 60


def set_registration(db: Session, who: CurrentUser, clinic: m.Clinic, number: str, *, actor: Actor) -> str:
    """Record the clinic's DEA registration number (the director), checked for shape and check digit."""
    require(who, Action.MANAGE_CONTROLLED, clinic.id)
    _check_dea("dea_registration", number)
    begin_write(db)
    before = clinic.dea_registration
    clinic.dea_registration = normal_dea_number(number)
    record(
        db,
        actor,
        "controlled.registration_set",
        "clinic",
        clinic.id,
        clinic_id=clinic.id,
        details={"before": before, "after": clinic.dea_registration},
    )
    db.commit()
    return clinic.dea_registration


# --- the biennial inventory ---------------------------------------------------------------------


def inventory_moment(clinic: m.Clinic, day: date, *, close_of_business: bool) -> datetime:
    """The instant an inventory of `day` is taken at: the clinic's local midnight that opens the
    day, or the one that closes it (21 CFR 1304.11(a): opening or close of business)."""
    return at_wall_clock(day, MINUTES_PER_DAY if close_of_business else 0, ZoneInfo(clinic.timezone))


def inventory(
    db: Session,
    who: CurrentUser,
    clinic: m.Clinic,
    *,
    at: datetime,
    close_of_business: bool,
    actor: Actor | None,
) -> Inventory:
    """The book inventory of every controlled substance on hand just before `at` (audited when `actor`)."""
    require(who, Action.VIEW_CONTROLLED, clinic.id)
    report = inventory_of(db, clinic.id, at=at, close_of_business=close_of_business)
    if actor is not None:
        record_read(
            db,
            actor,
            "controlled.inventory",
            "clinic",
            clinic.id,
            clinic_id=clinic.id,
            details={"at": at.isoformat(), "lines": len(report.lines)},
        )
    return report


def inventory_of(db: Session, clinic_id: uuid.UUID, *, at: datetime, close_of_business: bool) -> Inventory:
    """The inventory without a permission check (the CLI's operator; `inventory` for people)."""
    lot_rows = list(db.scalars(select(m.DrugLot).where(m.DrugLot.clinic_id == clinic_id)))
    products = {
        p.id: p for p in db.scalars(select(m.DrugProduct).where(m.DrugProduct.clinic_id == clinic_id))
    }
    by_lot = {lot.id: _product(products[lot.product_id]) for lot in lot_rows}
    lots: list[Lot] = [_lot(lot_row) for lot_row in lot_rows]
    of_lot = {lot_row.id: products[lot_row.product_id] for lot_row in lot_rows}
    vials: list[Vial] = [
        Vial(v.id, v.lot_id, v.content_mg, of_lot[v.lot_id].multi_dose, of_lot[v.lot_id].maker_in_use_days)
        for v in db.scalars(select(m.DrugVial).where(m.DrugVial.clinic_id == clinic_id))
    ]
    rows = db.scalars(
        select(m.LedgerEntry)
        .where(m.LedgerEntry.clinic_id == clinic_id, m.LedgerEntry.occurred_at < at)
        .order_by(m.LedgerEntry.occurred_at, m.LedgerEntry.recorded_at)
    )
    entries = [_entry(row) for row in rows]
    return biennial_inventory(lots, vials, by_lot, entries, at=at, close_of_business=close_of_business)


# --- theft or loss: the draft DEA Form 106 --------------------------------------------------------


@dataclass(frozen=True)
class Adjustment:
    """A booked adjustment, as the stock page lists it."""

    entry_id: uuid.UUID
    at: datetime
    lot: str
    mg: Decimal
    cause: AdjustmentCause
    reason: str


def adjustments(db: Session, clinic_id: uuid.UUID) -> list[Adjustment]:
    """The clinic's adjustments, newest first (no permission check: the stock page has made it)."""
    rows = db.execute(
        select(m.LedgerEntry, m.DrugLot.lot_number)
        .join(m.DrugLot, m.DrugLot.id == m.LedgerEntry.lot_id)
        .where(m.LedgerEntry.clinic_id == clinic_id, m.LedgerEntry.kind == EntryKind.ADJUSTMENT)
        .order_by(m.LedgerEntry.occurred_at.desc())
    ).all()
    return [
        Adjustment(row.id, row.occurred_at, lot, row.quantity_mg, _cause(row), row.reason or "")
        for row, lot in rows
    ]


def loss_report(db: Session, who: CurrentUser, entry_id: uuid.UUID, *, actor: Actor) -> Form106Draft:
    """The draft DEA Form 106 for an adjustment confirmed as theft or loss (the director; audited)."""
    row = db.get(m.LedgerEntry, entry_id)
    if row is None or EntryKind(row.kind) is not EntryKind.ADJUSTMENT:
        raise NotFound("There is no such adjustment.")
    require(who, Action.MANAGE_CONTROLLED, row.clinic_id)
    clinic = db.get(m.Clinic, row.clinic_id)
    lot_row = db.get(m.DrugLot, row.lot_id)
    assert clinic is not None and lot_row is not None
    product_row = db.get(m.DrugProduct, lot_row.product_id)
    assert product_row is not None
    product = _product(product_row)
    earlier = [
        a.at.date()
        for a in adjustments(db, clinic.id)
        if a.cause.reportable and a.entry_id != row.id and a.at < row.occurred_at
    ]
    lost_mg = -row.quantity_mg
    people = {
        u.id: u.email
        for u in db.scalars(
            select(m.StaffUser).where(m.StaffUser.id.in_([row.recorded_by_id, row.witness_id]))
        )
    }
    draft = form_106(
        adjustment_id=row.id,
        cause=_cause(row),
        discovered_at=row.occurred_at,
        registrant=Registrant(
            clinic.name,
            clinic.dea_registration,
            f"{clinic.address_line}, {clinic.city}, {clinic.region} {clinic.postal_code}",
            clinic.phone,
        ),
        substances=(
            LostSubstance(
                ndc=product.ndc,
                name=product.name,
                strength=product.strength,
                dosage_form=product.dosage_form,
                quantity_mg=lost_mg,
                quantity_ml=(lost_mg / product.mg_per_ml).quantize(MG),
                lot=lot_row.lot_number,
            ),
        ),
        reason=row.reason or "",
        booked_by=people.get(row.recorded_by_id, "") if row.recorded_by_id else "",
        witness=people.get(row.witness_id, "") if row.witness_id else "",
        earlier_losses=earlier,
    )
    record_read(db, actor, "controlled.loss_report", "controlled_ledger", row.id, clinic_id=clinic.id)
    return draft


def _product(row: m.DrugProduct) -> Product:
    return Product(row.ndc, row.name, row.mg_per_ml, row.vial_ml, row.multi_dose)


def _cause(row: m.LedgerEntry) -> AdjustmentCause:
    try:
        return AdjustmentCause((row.details or {}).get("cause", AdjustmentCause.COUNTING_ERROR.value))
    except ValueError:
        return AdjustmentCause.COUNTING_ERROR


# --- what may go to the reverse distributor -----------------------------------------------------------


@dataclass(frozen=True)
class DestroyableVial:
    vial_id: uuid.UUID
    lot: str
    number: int
    remaining_mg: Decimal
    expired: bool


def destroyable_vials(db: Session, clinic_id: uuid.UUID, today: date) -> list[DestroyableVial]:
    """Vials with something left in the safe, expired lots first (what a reverse distributor takes)."""
    found = []
    lots = db.scalars(
        select(m.DrugLot).where(m.DrugLot.clinic_id == clinic_id).order_by(m.DrugLot.expires_on)
    )
    for lot_row in lots:
        ledger = _ledger(db, lot_row)
        if ledger.balance(lot_row.id).in_safe_mg <= 0:
            continue
        for vial in db.scalars(
            select(m.DrugVial).where(m.DrugVial.lot_id == lot_row.id).order_by(m.DrugVial.number)
        ):
            left = ledger.vial_remaining_mg(vial.id)
            if left > 0:
                found.append(
                    DestroyableVial(
                        vial.id, lot_row.lot_number, vial.number, left, lot_row.expires_on < today
                    )
                )
    return found
