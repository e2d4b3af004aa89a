"""Controlled-substance accountability (issue 14): receive, draw, give, waste, destroy, adjust, count.

Every use case here loads the lot's ledger, asks `ketaflow.controlled.ledger` whether the
new entry keeps every rule, and writes it, all while holding the lock of the safe the lot is
kept in, so two nurses counting one safe or wasting one remainder at the same moment cannot
both pass the check (the second sees the first's entry). The ledger rows are append-only;
nothing here updates or deletes one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.controlled.ledger import Entry, EntryKind, Ledger, Lot, LotBalance, Vial
from ketaflow.controlled.losses import AdjustmentCause, check_cause
from ketaflow.controlled.registration import dea_number_problem
from ketaflow.errors import Conflict, NotFound, invalid
from ketaflow.services.audit import Actor, record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.infusion import current_order, load_session, pump_records
from ketaflow.services.permissions import Action, require
from ketaflow.services.session_state import InfusionState, given_mg, state_of
from ketaflow.services.witness import Witness, WitnessCredentials, confirm, licensed_at
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write, lock_row
from ketaflow.store.models import utcnow

MG = Decimal("0.001")  # quantities are kept to the microgram (the columns' scale)
NDC_DIGITS = 11  # an NDC in the 5-4-2 form (FDA National Drug Code Directory)
TEXT_MAX = 200


# --- stock set-up (the director) -------------------------------------------------------------


def add_product(
    db: Session,
    who: CurrentUser,
    clinic_id: uuid.UUID,
    *,
    ndc: str,
    name: str,
    mg_per_ml: Decimal,
    vial_ml: Decimal,
    multi_dose: bool,
    maker_in_use_days: int | None,
    actor: Actor,
) -> m.DrugProduct:
    require(who, Action.MANAGE_CONTROLLED, clinic_id)
    digits = ndc.replace("-", "").strip()
    if len(digits) != NDC_DIGITS or not digits.isdigit():
        raise invalid("ndc", "An NDC has 11 digits (5-4-2, e.g. 12345-6789-01); copy it from the carton.")
    if mg_per_ml <= 0 or vial_ml <= 0:
        raise invalid("mg_per_ml", "Give the strength (mg/mL) and the vial's volume (mL), both above 0.")
    if maker_in_use_days is not None and maker_in_use_days <= 0:
        raise invalid("maker_in_use_days", "Leave the maker's in-use days empty, or give at least 1 day.")
    if not name.strip() or len(name) > 160:
        raise invalid("name", "Give the product's name as on the carton (at most 160 characters).")
    begin_write(db)
    ndc_text = f"{digits[:5]}-{digits[5:9]}-{digits[9:]}"
    if db.scalar(
        select(m.DrugProduct.id).where(m.DrugProduct.clinic_id == clinic_id, m.DrugProduct.ndc == ndc_text)
    ):
        raise Conflict(f"NDC {ndc_text} is already in this clinic's products.")
    product = m.DrugProduct(
        clinic_id=clinic_id,
        ndc=ndc_text,
        name=name.strip(),
        mg_per_ml=mg_per_ml,
        vial_ml=vial_ml,
        multi_dose=multi_dose,
        maker_in_use_days=maker_in_use_days,
    )
    db.add(product)
    db.flush()
    record(db, actor, "controlled.product_add", "drug_product", product.id, clinic_id=clinic_id)
    db.commit()
    return product


def add_location(
    db: Session, who: CurrentUser, clinic_id: uuid.UUID, name: str, *, actor: Actor
) -> m.StorageLocation:
    require(who, Action.MANAGE_CONTROLLED, clinic_id)
    name = name.strip()
    if not name or len(name) > 80:
        raise invalid("name", "Name the safe (at most 80 characters), e.g. Safe A.")
    begin_write(db)
    if db.scalar(
        select(m.StorageLocation.id).where(
            m.StorageLocation.clinic_id == clinic_id, m.StorageLocation.name == name
        )
    ):
        raise Conflict(f"This clinic already has a safe named {name}.")
    location = m.StorageLocation(clinic_id=clinic_id, name=name)
    db.add(location)
    db.flush()
    record(db, actor, "controlled.location_add", "storage_location", location.id, clinic_id=clinic_id)
    db.commit()
    return location


@dataclass(frozen=True)
class Delivery:
    """A delivery as the director receives it: the lot, how many vials, and the paperwork."""

    product_id: uuid.UUID
    location_id: uuid.UUID
    lot_number: str
    expires_on: date
    vials: int
    supplier: str
    supplier_dea: str
    invoice: str
    received_at: datetime


def receive(
    db: Session, who: CurrentUser, clinic_id: uuid.UUID, delivery: Delivery, *, actor: Actor
) -> m.DrugLot:
    """Book a delivery into the safe: the lot, its numbered vials, and one receipt entry."""
    require(who, Action.MANAGE_CONTROLLED, clinic_id)
    if not 1 <= delivery.vials <= 1000:
        raise invalid("vials", "Give the number of vials received (1 to 1000).")
    for field, value in (
        ("lot_number", delivery.lot_number),
        ("supplier", delivery.supplier),
        ("invoice", delivery.invoice),
        ("supplier_dea", delivery.supplier_dea),
    ):
        if not value.strip() or len(value) > TEXT_MAX:
            raise invalid(field, "This is needed for the DEA records; copy it from the invoice.")
    _check_dea("supplier_dea", delivery.supplier_dea)
    begin_write(db)
    product = db.get(m.DrugProduct, delivery.product_id)
    location = db.get(m.StorageLocation, delivery.location_id)
    if product is None or product.clinic_id != clinic_id:
        raise invalid("product_id", "Choose one of this clinic's products.")
    if location is None or location.clinic_id != clinic_id:
        raise invalid("location_id", "Choose one of this clinic's safes.")
    lock_row(db, m.StorageLocation, location.id)
    lot_number = delivery.lot_number.strip()
    if db.scalar(
        select(m.DrugLot.id).where(
            m.DrugLot.clinic_id == clinic_id,
            m.DrugLot.product_id == product.id,
            m.DrugLot.lot_number == lot_number,
        )
    ):
        raise Conflict(
            f"Lot {lot_number} of this product was received already; a second delivery of it "
            "needs its own lot record from the supplier."
        )
    lot = m.DrugLot(
        clinic_id=clinic_id,
        product_id=product.id,
        location_id=location.id,
        lot_number=lot_number,
        expires_on=delivery.expires_on,
        recorded_by_id=who.user.id,
    )
    db.add(lot)
    db.flush()
    content = (product.mg_per_ml * product.vial_ml).quantize(MG)
    total = content * delivery.vials
    entry = Entry(uuid.uuid4(), EntryKind.RECEIPT, delivery.received_at, lot.id, total, who.user.id)
    Ledger.of([_lot(lot)], [], []).check(entry)
    db.add_all(
        [
            m.DrugVial(clinic_id=clinic_id, lot_id=lot.id, number=n, content_mg=content)
            for n in range(1, delivery.vials + 1)
        ]
    )
    details = {
        "supplier": delivery.supplier.strip(),
        "supplier_dea": delivery.supplier_dea.strip(),
        "invoice": delivery.invoice.strip(),
        "vials": delivery.vials,
    }
    _write(db, entry, clinic_id, details=details, ml=(product.vial_ml * delivery.vials).quantize(MG))
    record(
        db,
        actor,
        "controlled.receive",
        "drug_lot",
        lot.id,
        clinic_id=clinic_id,
        details={"mg": str(total), "vials": delivery.vials},
    )
    db.commit()
    return lot


# --- the infusion: draw, give, waste (the nurse) ------------------------------------------------


def draw_for_session(
    db: Session, who: CurrentUser, session_id: uuid.UUID, vial_id: uuid.UUID, *, at: datetime, actor: Actor
) -> m.LedgerEntry:
    """Draw up the current dose order's bag content from `vial_id` (as much as is still to draw).

    The bag's content follows from the order (`bag_drug_mg`); what earlier draws for the same
    order already put in is subtracted, so a bag filled from two vials is two draws.
    """
    begin_write(db)
    session = load_session(db, who, session_id, Action.HANDLE_CONTROLLED)
    order = current_order(db, session.id)
    if order is None:
        raise Conflict("There is no dose order for this infusion yet; the psychiatrist orders first.")
    vial = db.get(m.DrugVial, vial_id)
    if vial is None or vial.clinic_id != session.clinic_id:
        raise invalid("vial_id", "Choose a vial from this clinic's safe.")
    lot_row = _lock_lot(db, vial.lot_id)
    drawn = sum(
        (
            e.quantity_mg
            for e in db.scalars(
                select(m.LedgerEntry).where(
                    m.LedgerEntry.dose_order_id == order.id, m.LedgerEntry.kind == EntryKind.DRAW
                )
            )
        ),
        Decimal(0),
    )
    needed = Decimal(str(order.bag_drug_mg)).quantize(MG) - drawn
    if needed <= 0:
        raise Conflict(f"The bag for this order ({order.bag_drug_mg:g} mg) is already drawn up.")
    ledger = _ledger(db, lot_row)
    mg = min(needed, ledger.vial_remaining_mg(vial.id))
    if mg <= 0:
        raise invalid("vial_id", "That vial is empty; choose another vial.")
    product = db.get(m.DrugProduct, lot_row.product_id)
    assert product is not None
    entry = Entry(uuid.uuid4(), EntryKind.DRAW, at, lot_row.id, mg, who.user.id, vial_id=vial.id)
    ledger.check(entry)
    row = _write(
        db,
        entry,
        session.clinic_id,
        ml=(mg / product.mg_per_ml).quantize(MG),
        dose_order_id=order.id,
        session_id=session.id,
        patient_id=session.patient_id,
    )
    record(
        db,
        actor,
        "controlled.draw",
        "controlled_ledger",
        row.id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        details={"mg": str(mg), "lot": lot_row.lot_number},
    )
    db.commit()
    return row


def book_administered(
    db: Session, who: CurrentUser, session_id: uuid.UUID, *, at: datetime, actor: Actor
) -> list[m.LedgerEntry]:
    """After the pump stopped: book what it gave against the infusion's draws, oldest first."""
    begin_write(db)
    session = load_session(db, who, session_id, Action.HANDLE_CONTROLLED)
    order = current_order(db, session.id)
    events = pump_records(db, session.id)
    if order is None or state_of(events, discharged=False) is not InfusionState.STOPPED:
        raise Conflict("Chart the pump's stop first; what it gave is booked once the infusion has stopped.")
    draws = _session_draws(db, session.id)
    if not draws:
        raise Conflict("Nothing was drawn up for this infusion; record the draw first.")
    if db.scalar(
        select(m.LedgerEntry.id)
        .where(m.LedgerEntry.session_id == session.id, m.LedgerEntry.kind == EntryKind.ADMINISTERED)
        .limit(1)
    ):
        raise Conflict("What the pump gave is already booked for this infusion.")
    left = Decimal(str(given_mg(events, at, vtbi_mg=order.vtbi_mg))).quantize(MG)
    written: list[m.LedgerEntry] = []
    for draw in draws:
        if left <= 0:
            break
        lot_row = _lock_lot(db, draw.lot_id)
        ledger = _ledger(db, lot_row)
        mg = min(left, ledger.draw_open_mg(draw.id))
        if mg <= 0:
            continue
        entry = Entry(uuid.uuid4(), EntryKind.ADMINISTERED, at, draw.lot_id, mg, who.user.id, draw_id=draw.id)
        ledger.check(entry)
        written.append(
            _write(
                db,
                entry,
                session.clinic_id,
                draw_id=draw.id,
                dose_order_id=draw.dose_order_id,
                session_id=session.id,
                patient_id=session.patient_id,
            )
        )
        left -= mg
    if left > 0:
        raise Conflict(
            f"The pump gave {left} mg more than was drawn up for this infusion; count the safe and book the "
            "difference as an adjustment with the director."
        )
    record(
        db,
        actor,
        "controlled.administered",
        "infusion_session",
        session.id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        details={"mg": str(sum((r.quantity_mg for r in written), Decimal(0)))},
    )
    db.commit()
    return written


def waste_remainder(
    db: Session,
    who: CurrentUser,
    draw_id: uuid.UUID,
    witness: WitnessCredentials,
    *,
    at: datetime,
    actor: Actor,
) -> m.LedgerEntry:
    """Waste what is left of a drawn bag before a witness who signs in themselves."""
    begin_write(db)
    draw = db.get(m.LedgerEntry, draw_id)
    if draw is None or draw.kind != EntryKind.DRAW:
        raise NotFound("There is no such draw.")
    require(who, Action.HANDLE_CONTROLLED, draw.clinic_id)
    lot_row = _lock_lot(db, draw.lot_id)
    ledger = _ledger(db, lot_row)
    open_mg = ledger.draw_open_mg(draw.id)
    if open_mg <= 0:
        raise Conflict("Everything drawn into this bag has already been given or wasted.")
    confirmed = _witness(db, witness, draw.clinic_id, who, f"the waste of {open_mg} mg", actor)
    _lock_lot(db, draw.lot_id)  # the witness check committed the attempt; take the lock again
    ledger = _ledger(db, lot_row)
    if ledger.draw_open_mg(draw.id) <= 0:  # someone else wasted it while the witness signed in
        raise Conflict("Everything drawn into this bag has already been given or wasted.")
    entry = Entry(
        uuid.uuid4(),
        EntryKind.WASTE,
        at,
        draw.lot_id,
        ledger.draw_open_mg(draw.id),
        who.user.id,
        witness=confirmed.user_id,
        draw_id=draw.id,
    )
    ledger.check(entry)
    row = _write(
        db,
        entry,
        draw.clinic_id,
        draw_id=draw.id,
        dose_order_id=draw.dose_order_id,
        session_id=draw.session_id,
        patient_id=draw.patient_id,
    )
    record(
        db,
        actor,
        "controlled.waste",
        "controlled_ledger",
        row.id,
        clinic_id=draw.clinic_id,
        patient_id=draw.patient_id,
        details={"mg": str(entry.mg), "witness_id": str(confirmed.user_id)},
    )
    db.commit()
    return row


def open_draws(db: Session, session_id: uuid.UUID) -> list[tuple[m.LedgerEntry, Decimal]]:
    """The infusion's draws with milligrams neither given nor wasted (the session cannot close)."""
    found = []
    for draw in _session_draws(db, session_id):
        lot_row = db.get(m.DrugLot, draw.lot_id)
        assert lot_row is not None
        left = _ledger(db, lot_row).draw_open_mg(draw.id)
        if left > 0:
            found.append((draw, left))
    return found


# --- the safe: count, adjust, destroy -----------------------------------------------------


def count(
    db: Session,
    who: CurrentUser,
    lot_id: uuid.UUID,
    counted_mg: Decimal,
    witness: WitnessCredentials,
    *,
    at: datetime,
    actor: Actor,
) -> LotBalance:
    """Two people count a lot in the safe; the answer shows any discrepancy at once."""
    lot_row = _load_lot(db, who, lot_id, Action.HANDLE_CONTROLLED)
    confirmed = _witness(db, witness, lot_row.clinic_id, who, f"the count of lot {lot_row.lot_number}", actor)
    _lock_lot(db, lot_id)
    ledger = _ledger(db, lot_row)
    entry = Entry(
        uuid.uuid4(), EntryKind.COUNT, at, lot_id, counted_mg, who.user.id, witness=confirmed.user_id
    )
    ledger.check(entry)
    row = _write(db, entry, lot_row.clinic_id)
    ledger.apply(entry)
    balance = ledger.balance(lot_id)
    record(
        db,
        actor,
        "controlled.count",
        "controlled_ledger",
        row.id,
        clinic_id=lot_row.clinic_id,
        details={"counted_mg": str(counted_mg), "discrepancy_mg": str(balance.discrepancy_mg)},
    )
    db.commit()
    return balance


def adjust(
    db: Session,
    who: CurrentUser,
    lot_id: uuid.UUID,
    mg: Decimal,
    reason: str,
    witness: WitnessCredentials,
    *,
    at: datetime,
    actor: Actor,
    vial_id: uuid.UUID | None = None,
    cause: AdjustmentCause = AdjustmentCause.COUNTING_ERROR,
) -> m.LedgerEntry:
    """The director books an investigated discrepancy (negative: stock missing), in one vial when
    it was found there (a spill, a crack), so the vial's own content stays right too. `cause` is
    what the investigation concluded; a theft or loss gets a draft DEA Form 106
    (`ketaflow.services.controlled_reports.loss_report`)."""
    lot_row = _load_lot(db, who, lot_id, Action.MANAGE_CONTROLLED)
    check_cause(cause, mg)
    confirmed = _witness(db, witness, lot_row.clinic_id, who, f"an adjustment of {mg} mg", actor)
    _lock_lot(db, lot_id)
    ledger = _ledger(db, lot_row)
    entry = Entry(
        uuid.uuid4(),
        EntryKind.ADJUSTMENT,
        at,
        lot_id,
        mg,
        who.user.id,
        witness=confirmed.user_id,
        reason=reason.strip(),
        vial_id=vial_id,
    )
    ledger.check(entry)
    row = _write(db, entry, lot_row.clinic_id, details={"cause": cause.value})
    record(
        db,
        actor,
        "controlled.adjust",
        "controlled_ledger",
        row.id,
        clinic_id=lot_row.clinic_id,
        details={"mg": str(mg), "cause": cause.value},
    )
    db.commit()
    return row


@dataclass(frozen=True)
class Destruction:
    """A vial leaving through a reverse distributor (the fields DEA Form 41 asks for are kept in
    `details`: who took it, their DEA registration, how it is destroyed)."""

    vial_id: uuid.UUID
    reason: str
    reverse_distributor: str
    distributor_dea: str
    method: str


def destroy(
    db: Session,
    who: CurrentUser,
    destruction: Destruction,
    witness: WitnessCredentials,
    *,
    at: datetime,
    actor: Actor,
) -> m.LedgerEntry:
    begin_write(db)
    vial = db.get(m.DrugVial, destruction.vial_id)
    if vial is None:
        raise NotFound("There is no such vial.")
    lot_row = _load_lot(db, who, vial.lot_id, Action.MANAGE_CONTROLLED)
    for field in ("reverse_distributor", "distributor_dea", "method"):
        if not getattr(destruction, field).strip():
            raise invalid(
                field, "This is needed for the DEA Form 41 record; copy it from the distributor's paperwork."
            )
    _check_dea("distributor_dea", destruction.distributor_dea)
    ledger = _ledger(db, lot_row)
    mg = ledger.vial_remaining_mg(vial.id)
    confirmed = _witness(db, witness, lot_row.clinic_id, who, f"the destruction of {mg} mg", actor)
    _lock_lot(db, vial.lot_id)
    ledger = _ledger(db, lot_row)
    entry = Entry(
        uuid.uuid4(),
        EntryKind.DESTRUCTION,
        at,
        vial.lot_id,
        ledger.vial_remaining_mg(vial.id),
        who.user.id,
        witness=confirmed.user_id,
        vial_id=vial.id,
        reason=destruction.reason.strip(),
    )
    ledger.check(entry)
    row = _write(
        db,
        entry,
        lot_row.clinic_id,
        details={
            "reverse_distributor": destruction.reverse_distributor.strip(),
            "distributor_dea": destruction.distributor_dea.strip(),
            "method": destruction.method.strip(),
        },
    )
    record(
        db,
        actor,
        "controlled.destroy",
        "controlled_ledger",
        row.id,
        clinic_id=lot_row.clinic_id,
        details={"mg": str(entry.mg)},
    )
    db.commit()
    return row


# --- reports -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotReport:
    lot_id: uuid.UUID
    lot: str
    product: str
    expires_on: date
    balance: LotBalance


def reconcile(db: Session, who: CurrentUser, clinic_id: uuid.UUID, *, actor: Actor) -> list[LotReport]:
    """Every lot of the clinic with its totals, for a member who may see them (audited)."""
    require(who, Action.VIEW_CONTROLLED, clinic_id)
    reports = lot_reports(db, clinic_id)
    record_read(db, actor, "controlled.reconcile", "clinic", clinic_id, clinic_id=clinic_id)
    return reports


def lot_reports(db: Session, clinic_id: uuid.UUID) -> list[LotReport]:
    """Every lot of the clinic with its totals (and any discrepancy at its latest count).

    No permission check: `reconcile` for people, the CLI for the operator (who audits it)."""
    lots = db.scalars(
        select(m.DrugLot).where(m.DrugLot.clinic_id == clinic_id).order_by(m.DrugLot.recorded_at)
    )
    products = {
        p.id: p.name for p in db.scalars(select(m.DrugProduct).where(m.DrugProduct.clinic_id == clinic_id))
    }
    return [
        LotReport(
            lot.id, lot.lot_number, products[lot.product_id], lot.expires_on, _ledger(db, lot).balance(lot.id)
        )
        for lot in lots
    ]


@dataclass(frozen=True)
class LedgerLine:
    kind: str
    at: datetime
    lot: str
    quantity_mg: Decimal
    quantity_ml: Decimal | None
    by: str
    witness: str | None
    patient_id: uuid.UUID | None
    dose_order_id: uuid.UUID | None
    reason: str | None


def ledger_lines(
    db: Session,
    who: CurrentUser,
    clinic_id: uuid.UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    actor: Actor,
) -> list[LedgerLine]:
    """The clinic's ledger for a member who may see it (audited)."""
    require(who, Action.VIEW_CONTROLLED, clinic_id)
    lines = ledger_entries(db, clinic_id, start=start, end=end)
    record_read(
        db,
        actor,
        "controlled.ledger",
        "clinic",
        clinic_id,
        clinic_id=clinic_id,
        details={"entries": len(lines)},
    )
    return lines


def ledger_entries(
    db: Session, clinic_id: uuid.UUID, *, start: datetime | None, end: datetime | None
) -> list[LedgerLine]:
    """The clinic's ledger in time order, `start` inclusive to `end` exclusive (no permission check)."""
    query = (
        select(m.LedgerEntry, m.DrugLot.lot_number)
        .join(m.DrugLot, m.DrugLot.id == m.LedgerEntry.lot_id)
        .where(m.LedgerEntry.clinic_id == clinic_id)
        .order_by(m.LedgerEntry.occurred_at, m.LedgerEntry.recorded_at)
    )
    if start is not None:
        query = query.where(m.LedgerEntry.occurred_at >= start)
    if end is not None:
        query = query.where(m.LedgerEntry.occurred_at < end)
    rows = db.execute(query).all()
    staff = select(m.StaffUser.id, m.StaffUser.email).join(m.StaffRole, m.StaffRole.user_id == m.StaffUser.id)
    people = dict(db.execute(staff.where(m.StaffRole.clinic_id == clinic_id)).tuples().all())
    return [
        LedgerLine(
            EntryKind(e.kind).value,
            e.occurred_at,
            lot_number,
            e.quantity_mg,
            e.quantity_ml,
            people.get(e.recorded_by_id, str(e.recorded_by_id)) if e.recorded_by_id else "",
            people.get(e.witness_id, str(e.witness_id)) if e.witness_id else None,
            e.patient_id,
            e.dose_order_id,
            e.reason,
        )
        for e, lot_number in rows
    ]


# --- shared pieces -----------------------------------------------------------------------------


def _lot(row: m.DrugLot) -> Lot:
    return Lot(row.id, row.lot_number, row.expires_on)


def _load_lot(db: Session, who: CurrentUser, lot_id: uuid.UUID, action: Action) -> m.DrugLot:
    begin_write(db)
    lot_row = db.get(m.DrugLot, lot_id)
    if lot_row is None:
        raise NotFound("There is no such lot.")
    require(who, action, lot_row.clinic_id)
    return lot_row


def _lock_lot(db: Session, lot_id: uuid.UUID) -> m.DrugLot:
    """Lock the safe the lot is kept in (lots and the ledger are append-only, so the lock is
    taken on their mutable safe row) until the transaction ends. The caller has begun the
    write (`begin_write`, or a witness's confirmation, which leaves its write open)."""
    lot_row = db.get(m.DrugLot, lot_id)
    if lot_row is None:
        raise NotFound("There is no such lot.")
    lock_row(db, m.StorageLocation, lot_row.location_id)
    return lot_row


def _ledger(db: Session, lot_row: m.DrugLot) -> Ledger:
    vials = db.scalars(select(m.DrugVial).where(m.DrugVial.lot_id == lot_row.id))
    product = db.get(m.DrugProduct, lot_row.product_id)
    assert product is not None
    entries = db.scalars(
        select(m.LedgerEntry).where(m.LedgerEntry.lot_id == lot_row.id).order_by(m.LedgerEntry.recorded_at)
    )
    return Ledger.of(
        [_lot(lot_row)],
        [Vial(v.id, v.lot_id, v.content_mg, product.multi_dose, product.maker_in_use_days) for v in vials],
        [_entry(e) for e in entries],
        licensed=licensed_at(db, lot_row.clinic_id),
    )


def _entry(row: m.LedgerEntry) -> Entry:
    return Entry(
        row.id,
        EntryKind(row.kind),
        row.occurred_at,
        row.lot_id,
        row.quantity_mg,
        row.recorded_by_id or uuid.UUID(int=0),
        witness=row.witness_id,
        vial_id=row.vial_id,
        draw_id=row.draw_id,
        reason=row.reason,
    )


def _session_draws(db: Session, session_id: uuid.UUID) -> Sequence[m.LedgerEntry]:
    return db.scalars(
        select(m.LedgerEntry)
        .where(m.LedgerEntry.session_id == session_id, m.LedgerEntry.kind == EntryKind.DRAW)
        .order_by(m.LedgerEntry.recorded_at)
    ).all()


def _check_dea(field: str, number: str) -> None:
    problem = dea_number_problem(number)
    if problem is not None:
        raise invalid(field, problem)


def _witness(
    db: Session, witness: WitnessCredentials, clinic_id: uuid.UUID, who: CurrentUser, what: str, actor: Actor
) -> Witness:
    return confirm(db, witness, clinic_id=clinic_id, doer_id=who.user.id, what=what, actor=actor)


def _write(
    db: Session,
    entry: Entry,
    clinic_id: uuid.UUID,
    *,
    ml: Decimal | None = None,
    details: dict[str, object] | None = None,
    **links: uuid.UUID | None,
) -> m.LedgerEntry:
    row = m.LedgerEntry(
        id=entry.entry_id,
        clinic_id=clinic_id,
        kind=entry.kind,
        occurred_at=entry.at,
        lot_id=entry.lot_id,
        vial_id=entry.vial_id,
        quantity_mg=entry.mg,
        quantity_ml=ml,
        witness_id=entry.witness,
        reason=entry.reason,
        recorded_by_id=entry.by,
        recorded_at=utcnow(),
        details=details or {},
        **{k: v for k, v in links.items() if k in {"draw_id", "dose_order_id", "session_id", "patient_id"}},
    )
    if entry.draw_id is not None:
        row.draw_id = entry.draw_id
    db.add(row)
    db.flush()
    return row


# --- what the pages show ------------------------------------------------------------------------

# Lots expiring within this many days are flagged on the stock page: clinic policy (time to use
# them first or to arrange a return through the reverse distributor), not from a source.
EXPIRING_SOON_DAYS = 60


@dataclass(frozen=True)
class VialChoice:
    vial_id: uuid.UUID
    lot: str
    number: int
    remaining_mg: Decimal
    opened: bool
    discard_at: datetime | None


@dataclass(frozen=True)
class StockView:
    clinic: m.Clinic
    lots: list[LotReport]
    expiring: list[LotReport]  # expired or expiring within EXPIRING_SOON_DAYS, with stock left
    products: list[m.DrugProduct]
    locations: list[m.StorageLocation]
    entries: list[LedgerLine]  # the latest entries, newest first
    may_receive: bool
    may_count: bool


def stock_view(db: Session, who: CurrentUser, code: str, now: datetime, *, recent: int = 50) -> StockView:
    """The clinic's safe: every lot's balance, what expires soon, the latest ledger entries."""
    from ketaflow.services.clinics import clinic_for
    from ketaflow.services.permissions import allowed

    clinic = clinic_for(db, who, code, Action.VIEW_CONTROLLED)
    reports = lot_reports(db, clinic.id)
    expiring = expiring_lots(reports, now.date())
    entries = ledger_entries(db, clinic.id, start=None, end=None)[-recent:][::-1]
    view = StockView(
        clinic=clinic,
        lots=reports,
        expiring=expiring,
        products=list(db.scalars(select(m.DrugProduct).where(m.DrugProduct.clinic_id == clinic.id))),
        locations=list(db.scalars(select(m.StorageLocation).where(m.StorageLocation.clinic_id == clinic.id))),
        entries=entries,
        may_receive=allowed(who, Action.MANAGE_CONTROLLED, clinic.id),
        may_count=allowed(who, Action.HANDLE_CONTROLLED, clinic.id),
    )
    record_read(db, who.actor(), "controlled.stock_view", "clinic", clinic.id, clinic_id=clinic.id)
    return view


def expiring_lots(reports: list[LotReport], today: date) -> list[LotReport]:
    """Lots expired or expiring within EXPIRING_SOON_DAYS that still have stock in the safe."""
    soon = today + timedelta(days=EXPIRING_SOON_DAYS)
    return [r for r in reports if r.expires_on <= soon and r.balance.in_safe_mg > 0]


def vial_choices(db: Session, clinic_id: uuid.UUID, at: datetime) -> list[VialChoice]:
    """Vials a nurse may draw from now: opened multi-dose vials within their beyond-use date
    first, then unopened vials of unexpired lots, oldest lot first (first expiry, first out)."""
    found: list[VialChoice] = []
    lots = db.scalars(
        select(m.DrugLot)
        .where(m.DrugLot.clinic_id == clinic_id, m.DrugLot.expires_on >= at.date())
        .order_by(m.DrugLot.expires_on, m.DrugLot.recorded_at)
    )
    for lot_row in lots:
        ledger = _ledger(db, lot_row)
        if ledger.balance(lot_row.id).in_safe_mg <= 0:
            continue
        for vial in db.scalars(
            select(m.DrugVial).where(m.DrugVial.lot_id == lot_row.id).order_by(m.DrugVial.number)
        ):
            left = ledger.vial_remaining_mg(vial.id)
            discard_at = ledger.vial_discard_at(vial.id)
            opened = left < vial.content_mg
            if left <= 0 or (discard_at is not None and at >= discard_at):
                continue
            product = ledger.vials[vial.id]
            if opened and not product.multi_dose:
                continue
            found.append(VialChoice(vial.id, lot_row.lot_number, vial.number, left, opened, discard_at))
    return sorted(found, key=lambda v: not v.opened)


@dataclass(frozen=True)
class DrawRow:
    draw: m.LedgerEntry
    lot: str
    open_mg: Decimal


@dataclass(frozen=True)
class SessionStock:
    session: m.InfusionSession
    order: m.DoseOrder | None
    draws: list[DrawRow]
    still_to_draw_mg: Decimal
    administered_booked: bool
    pump_stopped: bool
    vials: list[VialChoice]
    may_handle: bool


def session_stock(db: Session, who: CurrentUser, session_id: uuid.UUID, now: datetime) -> SessionStock:
    """One infusion's ketamine: the order's bag, what was drawn, what is still open."""
    from ketaflow.services.permissions import allowed

    session = load_session(db, who, session_id, Action.VIEW_CONTROLLED)
    order = current_order(db, session.id)
    rows = []
    drawn = Decimal(0)
    for draw in _session_draws(db, session.id):
        lot_row = db.get(m.DrugLot, draw.lot_id)
        assert lot_row is not None
        rows.append(DrawRow(draw, lot_row.lot_number, _ledger(db, lot_row).draw_open_mg(draw.id)))
        if order is not None and draw.dose_order_id == order.id:
            drawn += draw.quantity_mg
    bag = Decimal(str(order.bag_drug_mg)).quantize(MG) if order is not None else Decimal(0)
    booked = db.scalar(
        select(m.LedgerEntry.id)
        .where(m.LedgerEntry.session_id == session.id, m.LedgerEntry.kind == EntryKind.ADMINISTERED)
        .limit(1)
    )
    view = SessionStock(
        session=session,
        order=order,
        draws=rows,
        still_to_draw_mg=max(Decimal(0), bag - drawn),
        administered_booked=booked is not None,
        pump_stopped=state_of(pump_records(db, session.id), discharged=False) is InfusionState.STOPPED,
        vials=vial_choices(db, session.clinic_id, now),
        may_handle=allowed(who, Action.HANDLE_CONTROLLED, session.clinic_id),
    )
    record_read(
        db,
        who.actor(),
        "controlled.session_view",
        "infusion_session",
        session.id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
    )
    return view
