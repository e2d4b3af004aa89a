"""The biennial inventory: every controlled substance on hand at one moment, as DEA asks.

Sources (21 CFR Part 1304; the primary text was not retrieved in this workplace and is
listed in docs/clinical-review.md):
- 1304.11(c): after the initial inventory, a registrant takes a new inventory of all stocks
  of controlled substances on hand at least every two years (the "biennial inventory").
- 1304.11(a): the inventory is a complete and accurate record, dated, and says whether it
  was taken at the opening or at the close of business.
- 1304.11(e)(3): for each Schedule III-V substance (ketamine is Schedule III): its name,
  each finished form (strength and dosage form), the number of units or volume in each
  commercial container, and the number of commercial containers; an opened container may
  be an estimated count or measure unless it holds more than 1,000 units.

ketaflow's part is the book inventory: what the ledger says is on hand at that moment, vial
by vial, with each lot's latest two-person count beside it. Sealed and opened vials are what
the ledger says is left in each vial; an adjustment booked on a lot as a whole (not on one
vial) lowers the lot's on-hand figure but no vial's content, so book such a loss on the vial
it came from when that is known. The physical inventory is the
count itself (taken by two people, booked as `count` entries); the printed report is what
the registrant signs and keeps for two years (21 CFR 1304.04(a)).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ketaflow.controlled.ledger import ZERO, Entry, EntryKind, Ledger, Lot, Vial

# 21 CFR 1304.11(c): at least every two years.
BIENNIAL_YEARS = 2


@dataclass(frozen=True)
class Product:
    ndc: str
    name: str
    mg_per_ml: Decimal
    vial_ml: Decimal
    multi_dose: bool

    @property
    def strength(self) -> str:
        return f"{self.mg_per_ml.normalize():f} mg/mL"

    @property
    def dosage_form(self) -> str:
        dose = "multi-dose" if self.multi_dose else "single-dose"
        return f"injection, solution; {self.vial_ml.normalize():f} mL {dose} vial"


@dataclass(frozen=True)
class InventoryLine:
    """One lot on hand: its sealed containers, its opened ones, what is drawn up in bags."""

    ndc: str
    name: str
    strength: str
    dosage_form: str
    lot: str
    expires_on: date
    unopened_vials: int
    unopened_mg: Decimal
    opened_vials: int
    opened_mg: Decimal  # an estimated measure is allowed for opened Schedule III containers
    opened_ml: Decimal
    in_bags_mg: Decimal  # drawn up for an infusion, neither given nor wasted yet
    on_hand_mg: Decimal
    counted_at: datetime | None  # the lot's latest two-person count up to the inventory
    counted_mg: Decimal | None
    discrepancy_mg: Decimal | None


@dataclass(frozen=True)
class Inventory:
    at: datetime
    close_of_business: bool
    lines: tuple[InventoryLine, ...]

    @property
    def on_hand_mg(self) -> Decimal:
        return sum((line.on_hand_mg for line in self.lines), ZERO)


def biennial_inventory(
    lots: Iterable[Lot],
    vials: Iterable[Vial],
    products: dict[uuid.UUID, Product],  # by lot id
    entries: Iterable[Entry],
    *,
    at: datetime,
    close_of_business: bool,
) -> Inventory:
    """The book inventory at the instant `at`, from the entries that happened before it (entries
    at or after it belong to the next inventory), in the order given (time order)."""
    lots = list(lots)
    vials = list(vials)
    upto = [e for e in entries if e.at < at]
    ledger = Ledger.of(lots, vials, upto)
    last_count: dict[uuid.UUID, Entry] = {}
    for entry in upto:
        if entry.kind is EntryKind.COUNT:
            last_count[entry.lot_id] = entry
    lines = []
    for lot in sorted(lots, key=lambda x: (products[x.lot_id].name, x.expiry, x.number)):
        balance = ledger.balance(lot.lot_id)
        if balance.received_mg == 0 or balance.on_hand_mg == 0:
            continue
        product = products[lot.lot_id]
        unopened = opened = 0
        unopened_mg = opened_mg = ZERO
        for vial in (v for v in vials if v.lot_id == lot.lot_id):
            left = ledger.vial_remaining_mg(vial.vial_id)
            if left <= 0:
                continue
            if ledger.vial_opened_at(vial.vial_id) is None and left == vial.content_mg:
                unopened += 1
                unopened_mg += left
            else:
                opened += 1
                opened_mg += left
        count = last_count.get(lot.lot_id)
        lines.append(
            InventoryLine(
                ndc=product.ndc,
                name=product.name,
                strength=product.strength,
                dosage_form=product.dosage_form,
                lot=lot.number,
                expires_on=lot.expiry,
                unopened_vials=unopened,
                unopened_mg=unopened_mg,
                opened_vials=opened,
                opened_mg=opened_mg,
                opened_ml=(opened_mg / product.mg_per_ml).quantize(Decimal("0.001")),
                in_bags_mg=balance.in_bags_mg,
                on_hand_mg=balance.on_hand_mg,
                counted_at=count.at if count else None,
                counted_mg=count.mg if count else None,
                discrepancy_mg=balance.discrepancy_mg,
            )
        )
    return Inventory(at=at, close_of_business=close_of_business, lines=tuple(lines))
