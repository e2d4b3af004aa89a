"""The controlled-substance ledger: entries, what each lot balances to, and what is refused.

Every movement of ketamine is one append-only entry (issue 14):
- `receipt`: a delivery into the safe (a lot's vials);
- `draw`: drawn up from one vial for one dose order's bag;
- `administered`: what the pump gave from that bag (closes part of the draw);
- `waste`: the rest of a drawn bag, or of an opened single-dose vial, wasted before a
  witness who is a different licensed person;
- `destruction`: stock leaving through a reverse distributor (DEA Form 41), witnessed;
- `adjustment`: a found discrepancy booked with a reason and a witness (negative when
  stock is missing);
- `count`: what two people counted in the safe for a lot at a moment.

Quantities are `Decimal` milligrams, so a lot balances to the milligram exactly; the
identity every lot keeps at every moment is

    received = administered + wasted + destroyed + adjusted + on hand

where `adjusted` is what adjustments took out (a loss of 10 mg is +10 here) and on hand
is what is in the safe plus what is drawn up in bags not yet given or wasted.

`Ledger.check` refuses an entry that would break a rule, with a sentence a nurse can act
on, and `Ledger.apply` books it. The caller (a service) holds the lot's lock while it
checks and writes, so two nurses wasting the same remainder cannot both succeed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from ketaflow.controlled.beyond_use import beyond_use_date, lot_usable_on
from ketaflow.errors import Conflict, InvalidInput

ZERO = Decimal(0)


class EntryKind(StrEnum):
    RECEIPT = "receipt"
    DRAW = "draw"
    ADMINISTERED = "administered"
    WASTE = "waste"
    DESTRUCTION = "destruction"
    ADJUSTMENT = "adjustment"
    COUNT = "count"


# Entries that need a second person who saw it happen.
WITNESSED = frozenset({EntryKind.WASTE, EntryKind.DESTRUCTION, EntryKind.ADJUSTMENT, EntryKind.COUNT})


@dataclass(frozen=True)
class Lot:
    lot_id: uuid.UUID
    number: str
    expiry: date


@dataclass(frozen=True)
class Vial:
    vial_id: uuid.UUID
    lot_id: uuid.UUID
    content_mg: Decimal
    multi_dose: bool
    # The manufacturer's in-use period after opening, when its label gives one.
    maker_days: int | None = None


@dataclass(frozen=True)
class Entry:
    entry_id: uuid.UUID
    kind: EntryKind
    at: datetime
    lot_id: uuid.UUID
    # Milligrams moved; positive, except an adjustment (negative when stock is missing).
    mg: Decimal
    by: uuid.UUID
    witness: uuid.UUID | None = None
    vial_id: uuid.UUID | None = (
        None  # draw; waste of an opened vial; destruction; an adjustment found in one vial
    )
    draw_id: uuid.UUID | None = None  # administered, and waste of a bag: the draw it closes
    reason: str | None = None  # adjustment and destruction


@dataclass
class LotBalance:
    """One lot's totals, as `ketaflow controlled reconcile` reports them."""

    lot_id: uuid.UUID
    received_mg: Decimal = ZERO
    drawn_mg: Decimal = ZERO
    administered_mg: Decimal = ZERO
    wasted_mg: Decimal = ZERO
    destroyed_mg: Decimal = ZERO
    adjusted_mg: Decimal = ZERO  # taken out by adjustments (a loss is positive)
    # The latest count and what the ledger expected in the safe at that moment.
    counted_mg: Decimal | None = None
    expected_at_count_mg: Decimal | None = None
    adjusted_since_count_mg: Decimal = ZERO
    wasted_from_bags_mg: Decimal = ZERO  # part of wasted_mg that was drawn into bags

    @property
    def in_bags_mg(self) -> Decimal:
        """Drawn up but neither given nor wasted yet."""
        return self.drawn_mg - self.administered_mg - self.wasted_from_bags_mg

    @property
    def in_safe_mg(self) -> Decimal:
        return (
            self.received_mg
            - self.drawn_mg
            - self.destroyed_mg
            - self.adjusted_mg
            - (self.wasted_mg - self.wasted_from_bags_mg)
        )

    @property
    def on_hand_mg(self) -> Decimal:
        return self.in_safe_mg + self.in_bags_mg

    @property
    def discrepancy_mg(self) -> Decimal | None:
        """Counted minus expected at the latest count, less what adjustments booked since
        (negative: missing). None when the lot was never counted; zero when it balances."""
        if self.counted_mg is None or self.expected_at_count_mg is None:
            return None
        return self.counted_mg - (self.expected_at_count_mg - self.adjusted_since_count_mg)

    def balances(self) -> bool:
        """The identity every lot keeps: received = administered + wasted + destroyed + adjusted + on hand."""
        return self.received_mg == (
            self.administered_mg + self.wasted_mg + self.destroyed_mg + self.adjusted_mg + self.on_hand_mg
        )


@dataclass
class _Draw:
    entry: Entry
    closed_mg: Decimal = ZERO

    @property
    def open_mg(self) -> Decimal:
        return self.entry.mg - self.closed_mg


@dataclass
class _VialState:
    vial: Vial
    used_mg: Decimal = ZERO  # drawn, or wasted/destroyed from the vial itself
    first_opened_at: datetime | None = None

    @property
    def remaining_mg(self) -> Decimal:
        return self.vial.content_mg - self.used_mg


@dataclass
class Ledger:
    """The state of one clinic's ledger, built by applying its entries in order."""

    lots: dict[uuid.UUID, Lot]
    vials: dict[uuid.UUID, Vial]
    licensed: frozenset[uuid.UUID] = frozenset()  # people who may witness (nurses, prescribers)
    _balances: dict[uuid.UUID, LotBalance] = field(default_factory=dict)
    _draws: dict[uuid.UUID, _Draw] = field(default_factory=dict)
    _vials: dict[uuid.UUID, _VialState] = field(default_factory=dict)
    _seen: set[uuid.UUID] = field(default_factory=set)

    @classmethod
    def of(
        cls,
        lots: Iterable[Lot],
        vials: Iterable[Vial],
        entries: Iterable[Entry],
        *,
        licensed: Iterable[uuid.UUID] = (),
    ) -> Ledger:
        """The ledger after `entries` (already booked, so applied without re-checking the people)."""
        ledger = cls({lot.lot_id: lot for lot in lots}, {v.vial_id: v for v in vials}, frozenset(licensed))
        for entry in entries:
            ledger.apply(entry)
        return ledger

    # --- reading ---------------------------------------------------------------

    def balance(self, lot_id: uuid.UUID) -> LotBalance:
        return self._balances.setdefault(lot_id, LotBalance(lot_id))

    def balances(self) -> list[LotBalance]:
        return [self.balance(lot_id) for lot_id in self.lots]

    def open_draws(self) -> list[tuple[uuid.UUID, Decimal]]:
        """Draws with milligrams neither given nor wasted: (draw entry id, mg still open)."""
        return [(draw_id, d.open_mg) for draw_id, d in self._draws.items() if d.open_mg > 0]

    def draw_open_mg(self, draw_id: uuid.UUID) -> Decimal:
        draw = self._draws.get(draw_id)
        if draw is None:
            raise InvalidInput("That draw is not in this clinic's ledger.")
        return draw.open_mg

    def vial_remaining_mg(self, vial_id: uuid.UUID) -> Decimal:
        return self._vial(vial_id).remaining_mg

    def vial_opened_at(self, vial_id: uuid.UUID) -> datetime | None:
        """When the vial was first drawn from (None: unopened)."""
        return self._vial(vial_id).first_opened_at

    def vial_discard_at(self, vial_id: uuid.UUID) -> datetime | None:
        """When an opened multi-dose vial must be discarded (None: unopened, or single-dose)."""
        state = self._vial(vial_id)
        if not state.vial.multi_dose or state.first_opened_at is None:
            return None
        return beyond_use_date(state.first_opened_at, maker_days=state.vial.maker_days)

    # --- the rules ---------------------------------------------------------------

    def check(self, entry: Entry) -> None:
        """Raise `InvalidInput` or `Conflict` when `entry` breaks a rule; book nothing."""
        if entry.entry_id in self._seen:
            raise Conflict("This ledger entry has already been booked.")
        lot = self.lots.get(entry.lot_id)
        if lot is None:
            raise InvalidInput("That lot is not in this clinic's stock; receive the delivery first.")
        if not entry.mg.is_finite():
            raise InvalidInput("Give the quantity as a number of milligrams.")
        if entry.kind is EntryKind.ADJUSTMENT:
            if entry.mg == 0:
                raise InvalidInput(
                    "An adjustment of 0 mg changes nothing; give the amount found missing or extra."
                )
        elif entry.kind is EntryKind.COUNT:
            if entry.mg < 0:
                raise InvalidInput("A counted quantity cannot be negative.")
        elif entry.mg <= 0:
            raise InvalidInput(f"A {entry.kind.value} must move more than 0 mg.")
        if entry.kind in WITNESSED:
            self._check_witness(entry)
        if entry.kind in {EntryKind.ADJUSTMENT, EntryKind.DESTRUCTION} and not (entry.reason or "").strip():
            raise InvalidInput(f"A {entry.kind.value} needs a reason; say what happened.")
        getattr(self, f"_check_{entry.kind.value}")(entry, lot)

    def apply(self, entry: Entry) -> None:
        """Book `entry` (already checked, or read back from the store)."""
        self._seen.add(entry.entry_id)
        bal = self.balance(entry.lot_id)
        kind = entry.kind
        if kind is EntryKind.RECEIPT:
            bal.received_mg += entry.mg
        elif kind is EntryKind.DRAW:
            bal.drawn_mg += entry.mg
            self._draws[entry.entry_id] = _Draw(entry)
            if entry.vial_id is not None:
                state = self._vial(entry.vial_id)
                state.used_mg += entry.mg
                if state.first_opened_at is None:
                    state.first_opened_at = entry.at
        elif kind is EntryKind.ADMINISTERED:
            bal.administered_mg += entry.mg
            self._close_draw(entry)
        elif kind is EntryKind.WASTE:
            bal.wasted_mg += entry.mg
            if entry.draw_id is not None:
                bal.wasted_from_bags_mg += entry.mg
                self._close_draw(entry)
            elif entry.vial_id is not None:
                self._vial(entry.vial_id).used_mg += entry.mg
        elif kind is EntryKind.DESTRUCTION:
            bal.destroyed_mg += entry.mg
            if entry.vial_id is not None:
                self._vial(entry.vial_id).used_mg += entry.mg
        elif kind is EntryKind.ADJUSTMENT:
            bal.adjusted_mg -= entry.mg
            bal.adjusted_since_count_mg -= entry.mg
            if entry.vial_id is not None:
                self._vial(entry.vial_id).used_mg -= entry.mg
        elif kind is EntryKind.COUNT:
            bal.expected_at_count_mg = bal.in_safe_mg
            bal.counted_mg = entry.mg
            bal.adjusted_since_count_mg = ZERO

    def book(self, entry: Entry) -> None:
        """Check `entry`, then apply it."""
        self.check(entry)
        self.apply(entry)

    # --- one rule per kind ---------------------------------------------------------

    def _check_receipt(self, entry: Entry, lot: Lot) -> None:
        if not lot_usable_on(lot.expiry, entry.at.date()):
            raise InvalidInput(
                f"Lot {lot.number} expired on {lot.expiry.isoformat()}; do not receive it into stock. "
                "Refuse the delivery or send it to the reverse distributor."
            )

    def _check_draw(self, entry: Entry, lot: Lot) -> None:
        if not lot_usable_on(lot.expiry, entry.at.date()):
            raise InvalidInput(
                f"Lot {lot.number} expired on {lot.expiry.isoformat()}; draw from another lot and set "
                "this one aside for destruction."
            )
        if entry.vial_id is None:
            raise InvalidInput("Say which vial the dose is drawn from.")
        state = self._vial(entry.vial_id)
        if state.vial.lot_id != entry.lot_id:
            raise InvalidInput("That vial belongs to another lot; scan the vial's own lot.")
        if state.first_opened_at is not None and not state.vial.multi_dose:
            raise InvalidInput(
                "That single-dose vial has already been opened; waste its remainder and open a new vial."
            )
        discard_at = self.vial_discard_at(entry.vial_id)
        if discard_at is not None and entry.at >= discard_at:
            raise InvalidInput(
                f"That multi-dose vial passed its beyond-use date ({discard_at:%Y-%m-%d %H:%M}); "
                "waste what is left in it with a witness and open a new vial."
            )
        if entry.mg > state.remaining_mg:
            raise InvalidInput(
                f"The vial holds {state.remaining_mg} mg; {entry.mg} mg cannot be drawn from it. "
                "Draw the rest from a second vial as a separate draw."
            )
        if entry.mg > self.balance(entry.lot_id).in_safe_mg:
            raise Conflict("The ledger shows less than that in the safe for this lot; count the safe.")

    def _check_administered(self, entry: Entry, lot: Lot) -> None:
        self._check_closes_draw(entry, "given")

    def _check_waste(self, entry: Entry, lot: Lot) -> None:
        if entry.draw_id is not None:
            open_mg = self._check_closes_draw(entry, "wasted")
            if entry.mg != open_mg:
                raise InvalidInput(
                    f"{open_mg} mg of this bag is neither given nor wasted; waste exactly that "
                    f"(not {entry.mg} mg). If the bag holds a different amount, book the difference "
                    "as an adjustment."
                )
            return
        if entry.vial_id is None:
            raise InvalidInput("Say what is wasted: the remainder of a drawn bag or of an opened vial.")
        state = self._vial(entry.vial_id)
        if state.vial.lot_id != entry.lot_id:
            raise InvalidInput("That vial belongs to another lot.")
        if state.first_opened_at is None:
            raise InvalidInput("That vial is unopened; unopened stock leaves by destruction, not waste.")
        if entry.mg != state.remaining_mg:
            raise InvalidInput(
                f"The opened vial holds {state.remaining_mg} mg by the ledger; waste exactly that "
                "(book any difference as an adjustment)."
            )

    def _check_destruction(self, entry: Entry, lot: Lot) -> None:
        # A reverse distributor takes whole vials (what is left in them), never loose milligrams.
        if entry.vial_id is None:
            raise InvalidInput("Say which vial goes to the reverse distributor.")
        state = self._vial(entry.vial_id)
        if state.vial.lot_id != entry.lot_id:
            raise InvalidInput("That vial belongs to another lot.")
        if entry.mg != state.remaining_mg:
            raise InvalidInput(
                f"The vial holds {state.remaining_mg} mg by the ledger; destroy exactly that "
                "(book any difference as an adjustment first)."
            )
        if entry.mg > self.balance(entry.lot_id).in_safe_mg:
            raise InvalidInput("That is more than the ledger shows in the safe for this lot.")

    def _check_adjustment(self, entry: Entry, lot: Lot) -> None:
        if entry.mg < 0 and -entry.mg > self.balance(entry.lot_id).in_safe_mg:
            raise InvalidInput("An adjustment cannot take out more than the ledger shows in the safe.")
        if entry.vial_id is not None:  # the difference was found in one vial (a spill, a crack)
            state = self._vial(entry.vial_id)
            if state.vial.lot_id != entry.lot_id:
                raise InvalidInput("That vial belongs to another lot.")
            if not Decimal(0) <= state.used_mg - entry.mg <= state.vial.content_mg:
                raise InvalidInput(
                    f"The vial holds {state.remaining_mg} mg by the ledger; an adjustment cannot take it "
                    "below empty or above its content."
                )

    def _check_count(self, entry: Entry, lot: Lot) -> None:
        return None  # a count records what two people saw; any difference is the discrepancy

    # --- shared pieces -------------------------------------------------------------

    def _check_witness(self, entry: Entry) -> None:
        if entry.witness is None:
            raise InvalidInput(f"A {entry.kind.value} needs a witness who signs in themselves.")
        if entry.witness == entry.by:
            raise InvalidInput(f"The witness of a {entry.kind.value} must be a different person.")
        if entry.witness not in self.licensed:
            raise InvalidInput(
                f"The witness of a {entry.kind.value} must be a licensed member of this clinic's staff."
            )

    def _check_closes_draw(self, entry: Entry, verb: str) -> Decimal:
        if entry.draw_id is None:
            raise InvalidInput(f"Say which drawn bag the milligrams were {verb} from.")
        draw = self._draws.get(entry.draw_id)
        if draw is None:
            raise InvalidInput("That draw is not in this clinic's ledger.")
        if draw.entry.lot_id != entry.lot_id:
            raise InvalidInput("That draw was made from another lot.")
        if draw.open_mg <= 0:
            raise Conflict("Everything drawn into this bag has already been given or wasted.")
        if entry.mg > draw.open_mg:
            raise InvalidInput(
                f"Only {draw.open_mg} mg of this bag is neither given nor wasted; "
                f"{entry.mg} mg is more than that."
            )
        return draw.open_mg

    def _close_draw(self, entry: Entry) -> None:
        if entry.draw_id is not None and entry.draw_id in self._draws:
            self._draws[entry.draw_id].closed_mg += entry.mg

    def _vial(self, vial_id: uuid.UUID) -> _VialState:
        state = self._vials.get(vial_id)
        if state is None:
            vial = self.vials.get(vial_id)
            if vial is None:
                raise InvalidInput("That vial is not in this clinic's stock.")
            state = self._vials[vial_id] = _VialState(vial)
        return state
