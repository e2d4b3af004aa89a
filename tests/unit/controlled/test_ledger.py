"""The controlled-substance ledger: a worked clinic day, every refusal, and the balance identity.

The worked day is computed by hand in the comments (milligrams, exact decimals); the
property test checks the identity received = administered + wasted + destroyed +
adjusted + on hand after every step of random valid histories (seeded), and compares
each lot's safe contents with an independent running sum.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from ketaflow.controlled.beyond_use import beyond_use_date, expiry_from_month, lot_usable_on
from ketaflow.controlled.ledger import Entry, EntryKind, Ledger, Lot, Vial
from ketaflow.errors import Conflict, InvalidInput

NURSE, SECOND_NURSE, DIRECTOR, FRONT_DESK = (uuid.uuid4() for _ in range(4))
LICENSED = {NURSE, SECOND_NURSE, DIRECTOR}
DAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
VIAL = uuid.uuid4()
D = Decimal


def entry(
    kind: EntryKind, lot: Lot, mg: str, *, at: datetime = DAY, by: uuid.UUID = NURSE, **kw: Any
) -> Entry:
    return Entry(uuid.uuid4(), kind, at, lot.lot_id, D(mg), by, **kw)


@pytest.fixture
def stock() -> tuple[Lot, list[Vial]]:
    lot = Lot(uuid.uuid4(), "KX2291", date(2027, 1, 31))
    # Ketamine 50 mg/mL, 10 mL multi-dose vials: 500 mg each.
    vials = [Vial(VIAL, lot.lot_id, D(500), multi_dose=True)]
    vials += [Vial(uuid.uuid4(), lot.lot_id, D(500), multi_dose=True) for _ in range(3)]
    return lot, vials


def new_ledger(lot: Lot, vials: list[Vial], received: str) -> Ledger:
    ledger = Ledger.of([lot], vials, [], licensed=LICENSED)
    ledger.book(entry(EntryKind.RECEIPT, lot, received, by=DIRECTOR))
    return ledger


def test_a_clinic_day_balances_to_the_milligram(stock: tuple[Lot, list[Vial]]) -> None:
    lot, vials = stock
    ledger = new_ledger(lot, vials, "2000")  # 4 vials x 500 mg
    draw = entry(EntryKind.DRAW, lot, "38.5", vial_id=vials[0].vial_id)  # 0.5 mg/kg x 77 kg
    ledger.book(draw)
    ledger.book(
        entry(EntryKind.ADMINISTERED, lot, "37.9", draw_id=draw.entry_id, at=DAY + timedelta(minutes=45))
    )
    ledger.book(
        entry(
            EntryKind.WASTE,
            lot,
            "0.6",
            draw_id=draw.entry_id,
            witness=SECOND_NURSE,
            at=DAY + timedelta(minutes=50),
        )
    )
    bal = ledger.balance(lot.lot_id)
    # 2000 - 38.5 drawn = 1961.5 in the safe; nothing left in the bag.
    assert (bal.in_safe_mg, bal.in_bags_mg, bal.on_hand_mg) == (D("1961.5"), D(0), D("1961.5"))
    assert (bal.administered_mg, bal.wasted_mg) == (D("37.9"), D("0.6"))
    assert ledger.vial_remaining_mg(vials[0].vial_id) == D("461.5")
    assert bal.balances()
    assert ledger.open_draws() == []

    # End of day: two people count 1951.5 mg; 10 mg is missing.
    ledger.book(entry(EntryKind.COUNT, lot, "1951.5", witness=SECOND_NURSE, at=DAY + timedelta(hours=9)))
    assert bal.discrepancy_mg == D("-10")
    # The director books the investigated loss with a witness: the discrepancy closes.
    ledger.book(
        entry(
            EntryKind.ADJUSTMENT,
            lot,
            "-10",
            by=DIRECTOR,
            witness=NURSE,
            reason="vial 1 stopper leaked; investigated",
            at=DAY + timedelta(hours=10),
        )
    )
    assert bal.discrepancy_mg == D(0)
    assert (bal.adjusted_mg, bal.on_hand_mg) == (D(10), D("1951.5"))
    # 2000 = 37.9 + 0.6 + 0 + 10 + 1951.5
    assert bal.balances()


def test_a_bag_still_open_is_on_hand_and_listed(stock: tuple[Lot, list[Vial]]) -> None:
    lot, vials = stock
    ledger = new_ledger(lot, vials, "500")
    draw = entry(EntryKind.DRAW, lot, "40", vial_id=vials[0].vial_id)
    ledger.book(draw)
    ledger.book(entry(EntryKind.ADMINISTERED, lot, "25", draw_id=draw.entry_id))
    bal = ledger.balance(lot.lot_id)
    assert (bal.in_safe_mg, bal.in_bags_mg, bal.on_hand_mg) == (D(460), D(15), D(475))
    assert ledger.open_draws() == [(draw.entry_id, D(15))]
    assert bal.balances()


@pytest.mark.parametrize(
    ("witness", "words"),
    [(None, "needs a witness"), (NURSE, "different person"), (FRONT_DESK, "licensed member")],
)
def test_waste_needs_a_different_licensed_witness(
    stock: tuple[Lot, list[Vial]], witness: uuid.UUID | None, words: str
) -> None:
    lot, vials = stock
    ledger = new_ledger(lot, vials, "500")
    draw = entry(EntryKind.DRAW, lot, "40", vial_id=vials[0].vial_id)
    ledger.book(draw)
    with pytest.raises(InvalidInput, match=words):
        ledger.book(entry(EntryKind.WASTE, lot, "40", draw_id=draw.entry_id, witness=witness))
    assert ledger.balance(lot.lot_id).wasted_mg == 0
    assert ledger.open_draws() == [(draw.entry_id, D(40))]


def test_the_same_remainder_cannot_be_wasted_twice(stock: tuple[Lot, list[Vial]]) -> None:
    lot, vials = stock
    ledger = new_ledger(lot, vials, "500")
    draw = entry(EntryKind.DRAW, lot, "40", vial_id=vials[0].vial_id)
    ledger.book(draw)
    waste = entry(EntryKind.WASTE, lot, "40", draw_id=draw.entry_id, witness=SECOND_NURSE)
    ledger.book(waste)
    with pytest.raises(Conflict, match="already been given or wasted"):
        ledger.book(entry(EntryKind.WASTE, lot, "40", draw_id=draw.entry_id, witness=SECOND_NURSE))
    with pytest.raises(Conflict, match="already been booked"):
        ledger.book(waste)
    assert ledger.balance(lot.lot_id).wasted_mg == D(40)


def test_waste_must_be_the_whole_remainder(stock: tuple[Lot, list[Vial]]) -> None:
    lot, vials = stock
    ledger = new_ledger(lot, vials, "500")
    draw = entry(EntryKind.DRAW, lot, "40", vial_id=vials[0].vial_id)
    ledger.book(draw)
    ledger.book(entry(EntryKind.ADMINISTERED, lot, "38", draw_id=draw.entry_id))
    with pytest.raises(InvalidInput, match="2 mg of this bag"):
        ledger.book(entry(EntryKind.WASTE, lot, "1.5", draw_id=draw.entry_id, witness=SECOND_NURSE))
    with pytest.raises(InvalidInput, match="more than that"):
        ledger.book(entry(EntryKind.ADMINISTERED, lot, "3", draw_id=draw.entry_id))


def test_no_draw_from_an_expired_lot_or_beyond_the_vial(stock: tuple[Lot, list[Vial]]) -> None:
    lot, vials = stock
    ledger = new_ledger(lot, vials, "2000")
    vial = vials[0].vial_id
    with pytest.raises(InvalidInput, match="expired on 2027-01-31"):
        ledger.book(entry(EntryKind.DRAW, lot, "40", vial_id=vial, at=datetime(2027, 2, 1, tzinfo=UTC)))
    # Usable through the expiry date itself.
    ledger.book(entry(EntryKind.DRAW, lot, "40", vial_id=vial, at=datetime(2027, 1, 31, 17, tzinfo=UTC)))
    with pytest.raises(InvalidInput, match="holds 460 mg"):
        ledger.book(entry(EntryKind.DRAW, lot, "461", vial_id=vial, at=datetime(2027, 1, 31, 18, tzinfo=UTC)))
    with pytest.raises(InvalidInput, match="which vial"):
        ledger.book(entry(EntryKind.DRAW, lot, "10"))


def test_an_opened_multi_dose_vial_expires_after_28_days(stock: tuple[Lot, list[Vial]]) -> None:
    lot, vials = stock
    ledger = new_ledger(lot, vials, "2000")
    vial = vials[0].vial_id
    ledger.book(entry(EntryKind.DRAW, lot, "40", vial_id=vial))
    assert ledger.vial_discard_at(vial) == DAY + timedelta(days=28)
    ledger.book(entry(EntryKind.DRAW, lot, "40", vial_id=vial, at=DAY + timedelta(days=27, hours=23)))
    with pytest.raises(InvalidInput, match="beyond-use date"):
        ledger.book(entry(EntryKind.DRAW, lot, "40", vial_id=vial, at=DAY + timedelta(days=28)))
    # What is left is wasted with a witness, exactly the vial's remainder.
    ledger.book(
        entry(EntryKind.WASTE, lot, "420", vial_id=vial, witness=SECOND_NURSE, at=DAY + timedelta(days=28))
    )
    assert ledger.vial_remaining_mg(vial) == 0
    assert ledger.balance(lot.lot_id).balances()


def test_a_single_dose_vial_is_opened_once(stock: tuple[Lot, list[Vial]]) -> None:
    lot, _ = stock
    vial = Vial(uuid.uuid4(), lot.lot_id, D(200), multi_dose=False)  # 10 mg/mL x 20 mL
    ledger = new_ledger(lot, [vial], "200")
    ledger.book(entry(EntryKind.DRAW, lot, "35", vial_id=vial.vial_id))
    with pytest.raises(InvalidInput, match="single-dose vial has already been opened"):
        ledger.book(entry(EntryKind.DRAW, lot, "35", vial_id=vial.vial_id))
    with pytest.raises(InvalidInput, match="holds 165 mg"):
        ledger.book(entry(EntryKind.WASTE, lot, "160", vial_id=vial.vial_id, witness=SECOND_NURSE))
    ledger.book(entry(EntryKind.WASTE, lot, "165", vial_id=vial.vial_id, witness=SECOND_NURSE))
    bal = ledger.balance(lot.lot_id)
    assert (bal.in_safe_mg, bal.in_bags_mg, bal.wasted_mg) == (D(0), D(35), D(165))
    assert bal.balances()


@pytest.mark.parametrize(
    ("kind", "mg", "extra", "words"),
    [
        (EntryKind.RECEIPT, "0", {}, "more than 0 mg"),
        (EntryKind.RECEIPT, "NaN", {}, "number of milligrams"),
        (EntryKind.ADJUSTMENT, "-5", {"witness": SECOND_NURSE}, "needs a reason"),
        (EntryKind.ADJUSTMENT, "0", {"witness": SECOND_NURSE, "reason": "x"}, "changes nothing"),
        (EntryKind.ADJUSTMENT, "-600", {"witness": SECOND_NURSE, "reason": "x"}, "more than the ledger"),
        (EntryKind.DESTRUCTION, "10", {"witness": SECOND_NURSE}, "needs a reason"),
        (EntryKind.DESTRUCTION, "500", {"witness": SECOND_NURSE, "reason": "expired"}, "which vial"),
        (
            EntryKind.DESTRUCTION,
            "400",
            {"witness": SECOND_NURSE, "reason": "damaged", "vial_id": VIAL},
            "holds 500 mg",
        ),
        (EntryKind.COUNT, "-1", {"witness": SECOND_NURSE}, "cannot be negative"),
        (EntryKind.COUNT, "500", {}, "needs a witness"),
    ],
)
def test_refusals_book_nothing(
    stock: tuple[Lot, list[Vial]], kind: EntryKind, mg: str, extra: dict[str, Any], words: str
) -> None:
    lot, vials = stock
    ledger = new_ledger(lot, vials, "500")
    before = vars(ledger.balance(lot.lot_id)).copy()
    with pytest.raises(InvalidInput, match=words):
        ledger.book(entry(kind, lot, mg, **extra))
    assert vars(ledger.balance(lot.lot_id)) == before


def test_an_unknown_lot_is_refused() -> None:
    ledger = Ledger.of([], [], [], licensed=LICENSED)
    with pytest.raises(InvalidInput, match="receive the delivery first"):
        ledger.book(Entry(uuid.uuid4(), EntryKind.RECEIPT, DAY, uuid.uuid4(), D(1), DIRECTOR))


def test_an_expired_delivery_is_refused() -> None:
    lot = Lot(uuid.uuid4(), "OLD1", date(2026, 2, 28))
    ledger = Ledger.of([lot], [], [], licensed=LICENSED)
    with pytest.raises(InvalidInput, match="expired on 2026-02-28"):
        ledger.book(entry(EntryKind.RECEIPT, lot, "500", by=DIRECTOR))


def test_beyond_use_and_expiry_dates() -> None:
    opened = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
    assert beyond_use_date(opened) == datetime(2026, 4, 29, 10, 0, tzinfo=UTC)
    assert beyond_use_date(opened, maker_days=14) == datetime(2026, 4, 15, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="at least one day"):
        beyond_use_date(opened, maker_days=0)
    assert expiry_from_month(2028, 2) == date(2028, 2, 29)  # leap year
    assert expiry_from_month(2027, 2) == date(2027, 2, 28)
    assert expiry_from_month(2026, 12) == date(2026, 12, 31)
    assert lot_usable_on(date(2026, 12, 31), date(2026, 12, 31))
    assert not lot_usable_on(date(2026, 12, 31), date(2027, 1, 1))


# --- the identity under random histories ------------------------------------------------

STEPS = st.lists(
    st.tuples(
        st.sampled_from(["receipt", "draw", "give", "waste", "destroy", "adjust", "count"]),
        st.integers(min_value=1, max_value=60_000),  # hundredths of a mg: 0.01-600 mg
    ),
    max_size=60,
)


@seed(20261206)
@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_every_lot_balances_after_every_step(history: list[tuple[str, int]]) -> None:
    lot = Lot(uuid.uuid4(), "P1", date(2030, 1, 1))
    vials = [Vial(uuid.uuid4(), lot.lot_id, D(500), multi_dose=True) for _ in range(60)]
    ledger = Ledger.of([lot], vials, [], licensed=LICENSED)
    safe = D(0)  # an independent running sum of what is in the safe
    given_mg = wasted_mg = D(0)
    received = 0
    at = DAY
    for action, amount in history:
        mg = D(amount) / 100
        at += timedelta(minutes=1)
        in_safe = ledger.balance(lot.lot_id).in_safe_mg
        if action == "receipt" and received < len(vials):
            ledger.book(entry(EntryKind.RECEIPT, lot, "500", at=at, by=DIRECTOR))
            received += 1
            safe += 500
        elif action == "draw":
            usable = [v for v in vials[:received] if ledger.vial_remaining_mg(v.vial_id) >= mg]
            # An adjustment booked on the lot (not on a vial) may leave less in the safe than in
            # the vials; the ledger then refuses the draw (checked in its own test).
            if usable and mg <= in_safe:
                ledger.book(entry(EntryKind.DRAW, lot, str(mg), at=at, vial_id=usable[0].vial_id))
                safe -= mg
        elif action == "give" and ledger.open_draws():
            draw_id, open_mg = ledger.open_draws()[0]
            ledger.book(entry(EntryKind.ADMINISTERED, lot, str(min(mg, open_mg)), at=at, draw_id=draw_id))
            given_mg += min(mg, open_mg)
        elif action == "waste" and ledger.open_draws():
            draw_id, open_mg = ledger.open_draws()[0]
            ledger.book(
                entry(EntryKind.WASTE, lot, str(open_mg), at=at, draw_id=draw_id, witness=SECOND_NURSE)
            )
            wasted_mg += open_mg
        elif action == "destroy":
            whole = [v for v in vials[:received] if ledger.vial_remaining_mg(v.vial_id) == v.content_mg]
            if whole and in_safe >= 500:  # an adjustment may have taken the lot below one vial
                ledger.book(
                    entry(
                        EntryKind.DESTRUCTION,
                        lot,
                        "500",
                        at=at,
                        witness=SECOND_NURSE,
                        reason="damaged",
                        vial_id=whole[-1].vial_id,
                    )
                )
                safe -= 500
        elif action == "adjust" and mg <= in_safe:
            ledger.book(
                entry(EntryKind.ADJUSTMENT, lot, str(-mg), at=at, by=DIRECTOR, witness=NURSE, reason="loss")
            )
            safe -= mg
        elif action == "count":
            ledger.book(entry(EntryKind.COUNT, lot, str(safe), at=at, witness=SECOND_NURSE))
            assert ledger.balance(lot.lot_id).discrepancy_mg == 0
        bal = ledger.balance(lot.lot_id)
        assert bal.balances()
        assert bal.in_safe_mg == safe
        assert (bal.administered_mg, bal.wasted_mg) == (given_mg, wasted_mg)
        assert bal.in_safe_mg >= 0
        assert bal.in_bags_mg >= 0


def test_an_adjustment_found_in_one_vial_lowers_that_vial_too(stock: tuple[Lot, list[Vial]]) -> None:
    lot, vials = stock
    ledger = new_ledger(lot, vials, "2000")
    vial = vials[0].vial_id
    ledger.book(entry(EntryKind.DRAW, lot, "40", vial_id=vial))
    spill = {"by": DIRECTOR, "witness": NURSE, "reason": "spilled at the draw-up", "vial_id": vial}
    with pytest.raises(InvalidInput, match="below empty"):
        ledger.book(entry(EntryKind.ADJUSTMENT, lot, "-461", **spill))
    ledger.book(entry(EntryKind.ADJUSTMENT, lot, "-12", **spill))
    assert ledger.vial_remaining_mg(vial) == D(448)  # 500 - 40 - 12
    bal = ledger.balance(lot.lot_id)
    assert (bal.in_safe_mg, bal.adjusted_mg) == (D(1948), D(12))
    assert bal.balances()


def test_a_draw_beyond_what_the_safe_holds_after_a_loss_is_refused(stock: tuple[Lot, list[Vial]]) -> None:
    lot, vials = stock
    ledger = new_ledger(lot, vials[:1], "500")  # one vial of 500 mg
    # 480 mg found missing from the lot (not from a vial): the book safe holds 20 mg, the vial 500.
    ledger.book(entry(EntryKind.ADJUSTMENT, lot, "-480", by=DIRECTOR, witness=NURSE, reason="loss"))
    with pytest.raises(Conflict, match="less than that in the safe"):
        ledger.book(entry(EntryKind.DRAW, lot, "38.5", vial_id=vials[0].vial_id))
    assert ledger.balance(lot.lot_id).drawn_mg == 0
