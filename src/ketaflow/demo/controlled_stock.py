"""The demo clinics' controlled-substance records (issue 14): deliveries, draws, waste, counts.

Run after a clinic's infusions are charted: the infusions are replayed in time order through
the real ledger rules (`ketaflow.controlled.ledger`), so every entry the demo writes is one the
application itself would accept. Each clinic stocks ketamine 50 mg/mL in 10 mL multi-dose vials
(500 mg) from deliveries of 25 vials, draws each bag's content from the open vial (opening the
next when it runs short or passes its 28-day beyond-use date, whose remainder is then wasted),
books what the pump gave, wastes the rest of the bag before a second nurse, and counts the safe
at the end of every day with two nurses. About one clinic-day in 300 the count finds a few
milligrams missing (a spill at the draw-up); the director investigates that evening and books
the adjustment with a witness. The product's NDC is a placeholder (the demo
stocks no real product) and the demo's rate of discrepancies is illustrative, not from a source.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ketaflow.controlled.beyond_use import lot_usable_on
from ketaflow.controlled.ledger import Entry, EntryKind, Ledger, Lot, Vial
from ketaflow.controlled.losses import AdjustmentCause
from ketaflow.demo.context import ClinicContext, make_id

VIAL_MG = Decimal(500)  # 50 mg/mL x 10 mL
MG_PER_ML = Decimal(50)
VIAL_ML = Decimal(10)
DELIVERY_VIALS = 25
REORDER_BELOW_MG = VIAL_MG * 6
SHELF_LIFE_DAYS = 540  # expiry of a delivered lot: illustrative (about 18 months)
DISCREPANCY_PER_DAY = 1 / 300  # illustrative
# Each clinic's demo ledger has one unexplained loss (illustrative, so the Form 106 draft has a
# case): 12 mg missing at a count from the 20th counted day on.
LOSS_AFTER_DAYS = 20
LOSS_MG = Decimal(12)
PLACEHOLDER_NDC = "00000-0000-00"
MG = Decimal("0.001")


@dataclass
class _Infusion:
    session_id: uuid.UUID
    patient_id: uuid.UUID
    order_id: uuid.UUID
    nurse: uuid.UUID
    ordered_at: datetime
    bag_mg: Decimal
    stopped_at: datetime | None
    given_mg: Decimal


def _infusions(ctx: ClinicContext) -> list[_Infusion]:
    sessions = {row["id"]: row for row in ctx.rows["infusion_sessions"]}
    stops: dict[uuid.UUID, dict[str, Any]] = {}
    for event in ctx.rows["administration_events"]:
        if event["kind"] == "stop":
            stops[event["session_id"]] = event
    found = []
    for order in ctx.rows["dose_orders"]:
        session = sessions[order["session_id"]]
        stop = stops.get(order["session_id"])
        found.append(
            _Infusion(
                session_id=session["id"],
                patient_id=session["patient_id"],
                order_id=order["id"],
                nurse=session["nurse_id"],
                ordered_at=order["ordered_at"],
                bag_mg=Decimal(str(order["bag_drug_mg"])).quantize(MG),
                stopped_at=stop["occurred_at"] if stop else None,
                given_mg=Decimal(str(stop["cumulative_mg"])).quantize(MG) if stop else Decimal(0),
            )
        )
    return sorted(found, key=lambda i: i.ordered_at)


class _Safe:
    """One clinic's safe, replayed through the ledger rules; collects the rows to write."""

    def __init__(self, ctx: ClinicContext, product_id: uuid.UUID, location_id: uuid.UUID) -> None:
        self.ctx = ctx
        self.product_id = product_id
        self.location_id = location_id
        nurses = ctx.network.staff[ctx.index]["nurse"]
        psychiatrists = ctx.network.staff[ctx.index]["psychiatrist"]
        self.nurses = list(nurses)
        self.director = ctx.network.staff[ctx.index]["director"][0]
        self.ledger = Ledger({}, {}, frozenset([*nurses, *psychiatrists]))
        self.unopened: list[Vial] = []
        self.open_vial: Vial | None = None
        self.lot_numbers = 0
        self.days_counted = 0
        self.lost = False

    def loss_due(self) -> bool:
        """The one unexplained loss of the clinic's demo ledger: on the first count from day
        LOSS_AFTER_DAYS on where an opened vial holds enough."""
        return not self.lost and self.days_counted >= LOSS_AFTER_DAYS

    def other_nurse(self, than: uuid.UUID) -> uuid.UUID:
        return self.ctx.rng.choice([n for n in self.nurses if n != than])

    def book(self, entry: Entry, **extra: Any) -> uuid.UUID:
        self.ledger.book(entry)  # the rules the application enforces; a breach here is a generator bug
        links = {"draw_id": None, "dose_order_id": None, "session_id": None, "patient_id": None}
        links.update({k: v for k, v in extra.items() if k in links})
        self.ctx.add(
            "controlled_ledger",
            id=entry.entry_id,
            kind=entry.kind.value,
            occurred_at=entry.at,
            lot_id=entry.lot_id,
            vial_id=entry.vial_id,
            quantity_mg=entry.mg,
            quantity_ml=extra.get("ml"),
            witness_id=entry.witness,
            reason=entry.reason,
            details=extra.get("details", {}),
            recorded_at=entry.at,
            recorded_by_id=entry.by,
            amends_id=None,
            amendment_reason=None,
            **{**links, "draw_id": entry.draw_id},
        )
        return entry.entry_id

    def in_safe(self) -> Decimal:
        return sum((self.ledger.balance(lot).in_safe_mg for lot in self.ledger.lots), Decimal(0))

    def receive(self, at: datetime) -> None:
        rng = self.ctx.rng
        self.lot_numbers += 1
        lot_id = make_id(rng)
        lot = Lot(
            lot_id,
            f"KD{self.ctx.index + 1:02d}{self.lot_numbers:04d}",
            at.date() + timedelta(days=SHELF_LIFE_DAYS),
        )
        self.ledger.lots[lot_id] = lot
        self.ctx.add(
            "drug_lots",
            id=lot_id,
            product_id=self.product_id,
            location_id=self.location_id,
            lot_number=lot.number,
            expires_on=lot.expiry,
            recorded_at=at,
            recorded_by_id=self.director,
        )
        for number in range(1, DELIVERY_VIALS + 1):
            vial = Vial(make_id(rng), lot_id, VIAL_MG, multi_dose=True)
            self.ledger.vials[vial.vial_id] = vial
            self.unopened.append(vial)
            self.ctx.add("drug_vials", id=vial.vial_id, lot_id=lot_id, number=number, content_mg=VIAL_MG)
        details = {
            "supplier": "Demo Wholesale Pharma",
            "supplier_dea": "RD0000000",
            "invoice": f"INV-{lot.number}",
            "vials": DELIVERY_VIALS,
        }
        self.book(
            Entry(make_id(rng), EntryKind.RECEIPT, at, lot_id, VIAL_MG * DELIVERY_VIALS, self.director),
            ml=VIAL_ML * DELIVERY_VIALS,
            details=details,
        )

    def vial_for(self, at: datetime, nurse: uuid.UUID) -> Vial:
        vial = self.open_vial
        if vial is not None:
            discard_at = self.ledger.vial_discard_at(vial.vial_id)
            left = self.ledger.vial_remaining_mg(vial.vial_id)
            expired = not lot_usable_on(self.ledger.lots[vial.lot_id].expiry, at.date())
            if expired or (discard_at is not None and at >= discard_at):
                if left > 0:  # past its beyond-use date: what is left is wasted before a witness
                    self.book(
                        Entry(
                            make_id(self.ctx.rng),
                            EntryKind.WASTE,
                            at,
                            vial.lot_id,
                            left,
                            nurse,
                            witness=self.other_nurse(nurse),
                            vial_id=vial.vial_id,
                        )
                    )
                vial = None
            elif left <= 0:
                vial = None
        if vial is None:
            while self.unopened and not lot_usable_on(
                self.ledger.lots[self.unopened[0].lot_id].expiry, at.date()
            ):
                self.destroy(self.unopened.pop(0), at - timedelta(minutes=30))
            if not self.unopened:
                self.receive(at - timedelta(hours=1))
            vial = self.unopened.pop(0)
            self.open_vial = vial
        return vial

    def destroy(self, vial: Vial, at: datetime) -> None:
        """An expired, unopened vial leaves through the reverse distributor (DEA Form 41 details)."""
        details = {
            "reverse_distributor": "Demo Returns Inc.",
            "distributor_dea": "RR0000000",
            "method": "transferred to reverse distributor for destruction",
        }
        self.book(
            Entry(
                make_id(self.ctx.rng),
                EntryKind.DESTRUCTION,
                at,
                vial.lot_id,
                self.ledger.vial_remaining_mg(vial.vial_id),
                self.director,
                witness=self.ctx.rng.choice(self.nurses),
                vial_id=vial.vial_id,
                reason="expired",
            ),
            details=details,
        )

    def infusion(self, inf: _Infusion) -> None:
        rng = self.ctx.rng
        if self.in_safe() < REORDER_BELOW_MG + inf.bag_mg or not self.ledger.lots:
            self.receive(inf.ordered_at - timedelta(hours=2))
        bags = max(1, math.ceil(inf.given_mg / inf.bag_mg)) if inf.bag_mg > 0 else 1
        draws: list[tuple[uuid.UUID, uuid.UUID, Decimal]] = []  # (draw id, lot id, mg)
        at = inf.ordered_at
        for _ in range(bags):
            needed = inf.bag_mg
            while needed > 0:
                vial = self.vial_for(at, inf.nurse)
                mg = min(needed, self.ledger.vial_remaining_mg(vial.vial_id))
                draw_id = self.book(
                    Entry(make_id(rng), EntryKind.DRAW, at, vial.lot_id, mg, inf.nurse, vial_id=vial.vial_id),
                    ml=(mg / MG_PER_ML).quantize(MG),
                    dose_order_id=inf.order_id,
                    session_id=inf.session_id,
                    patient_id=inf.patient_id,
                )
                draws.append((draw_id, vial.lot_id, mg))
                needed -= mg
                at += timedelta(seconds=1)
        if inf.stopped_at is None:
            return  # still running at the demo's "now": the bag hangs, its draw stays open
        given = inf.given_mg
        links = {"dose_order_id": inf.order_id, "session_id": inf.session_id, "patient_id": inf.patient_id}
        for draw_id, lot_id, mg in draws:
            part = min(given, mg)
            if part > 0:
                self.book(
                    Entry(
                        make_id(rng),
                        EntryKind.ADMINISTERED,
                        inf.stopped_at,
                        lot_id,
                        part,
                        inf.nurse,
                        draw_id=draw_id,
                    ),
                    **links,
                )
                given -= part
            rest = self.ledger.draw_open_mg(draw_id)
            if rest > 0:
                self.book(
                    Entry(
                        make_id(rng),
                        EntryKind.WASTE,
                        inf.stopped_at + timedelta(minutes=2),
                        lot_id,
                        rest,
                        inf.nurse,
                        witness=self.other_nurse(inf.nurse),
                        draw_id=draw_id,
                    ),
                    **links,
                )

    def close_day(self, at: datetime) -> Vial | None:
        """The end-of-day count of every lot in the safe; returns the vial a discrepancy was found in."""
        rng = self.ctx.rng
        found: Vial | None = None
        loss = False
        self.days_counted += 1
        counter = rng.choice(self.nurses)
        for lot_id in self.ledger.lots:
            expected = self.ledger.balance(lot_id).in_safe_mg
            bal = self.ledger.balance(lot_id)
            if expected <= 0 and bal.counted_mg is not None and bal.counted_mg <= 0:
                continue  # an empty lot counted empty before: nothing to count
            counted = expected
            spilled = self.open_vial
            can_differ = (
                found is None
                and spilled is not None
                and spilled.lot_id == lot_id
                and self.ledger.vial_remaining_mg(spilled.vial_id) > 20
            )
            if can_differ and rng.random() < DISCREPANCY_PER_DAY:
                counted = expected - Decimal(rng.randint(5, 20))
                found = spilled
            elif can_differ and self.loss_due():
                # Once per clinic, a loss nobody can explain (its own seeded draws, so the rest
                # of the generated network does not change): reported on DEA Form 106.
                counted = expected - LOSS_MG
                found = spilled
                loss = True
            self.book(
                Entry(
                    make_id(rng),
                    EntryKind.COUNT,
                    at,
                    lot_id,
                    counted,
                    counter,
                    witness=self.other_nurse(counter),
                )
            )
        if found is not None and loss:
            self.lost = True
            own = random.Random(f"controlled-loss-{self.ctx.index}")
            gap = self.ledger.balance(found.lot_id).discrepancy_mg
            assert gap is not None
            self.book(
                Entry(
                    make_id(own),
                    EntryKind.ADJUSTMENT,
                    at + timedelta(minutes=50),
                    found.lot_id,
                    gap,
                    self.director,
                    witness=self.nurses[0],
                    vial_id=found.vial_id,
                    reason=(
                        "Investigated: not found after a search of the safe, the bins and the day's "
                        "records; reported to DEA (Form 106) and to the police"
                    ),
                ),
                details={"cause": AdjustmentCause.LOSS.value},
            )
        elif found is not None:
            gap = self.ledger.balance(found.lot_id).discrepancy_mg
            assert gap is not None
            # The director investigates the same evening and books what was found, with a witness.
            investigated = at + timedelta(minutes=45)
            self.book(
                Entry(
                    make_id(rng),
                    EntryKind.ADJUSTMENT,
                    investigated,
                    found.lot_id,
                    gap,
                    self.director,
                    witness=rng.choice(self.nurses),
                    vial_id=found.vial_id,
                    reason="Investigated: spilled at the draw-up; documented, no diversion found",
                ),
                details={"cause": AdjustmentCause.BREAKAGE.value},
            )
        return found


def stock_rows(ctx: ClinicContext) -> None:
    """Add the clinic's product, safe, lots, vials and ledger to `ctx.rows`."""
    infusions = _infusions(ctx)
    if not infusions:
        return
    product_id = ctx.add(
        "drug_products",
        ndc=PLACEHOLDER_NDC,
        name="Ketamine HCl injection 50 mg/mL, 10 mL multi-dose vial (demo)",
        mg_per_ml=MG_PER_ML,
        vial_ml=VIAL_ML,
        multi_dose=True,
        maker_in_use_days=None,
        created_at=infusions[0].ordered_at - timedelta(days=30),
    )
    location_id = ctx.add(
        "storage_locations", name="Safe A", created_at=infusions[0].ordered_at - timedelta(days=30)
    )
    safe = _Safe(ctx, product_id, location_id)
    by_day: dict[date, list[_Infusion]] = defaultdict(list)
    for inf in infusions:
        by_day[inf.ordered_at.astimezone(ctx.zone).date()].append(inf)
    last_day = max(by_day)
    for day in sorted(by_day):
        for inf in by_day[day]:
            safe.infusion(inf)
        if day == last_day:
            break  # the demo's "today" is not over: no count yet
        ends = [i.stopped_at for i in by_day[day] if i.stopped_at is not None]
        safe.close_day(max(ends, default=by_day[day][-1].ordered_at) + timedelta(hours=1))
