"""DEA registration numbers, adjustment causes and the draft Form 106, and the biennial inventory.

References: the DEA check-digit rule's textbook worked example (BJ6125341: 6+2+3 = 11,
2 x (1+5+4) = 20, 31 -> check digit 1); the inventory of a small worked history computed by
hand in the comments (exact decimals)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ketaflow.controlled.inventory import Inventory, Product, biennial_inventory
from ketaflow.controlled.ledger import Entry, EntryKind, Lot, Vial
from ketaflow.controlled.losses import AdjustmentCause, LostSubstance, Registrant, check_cause, form_106
from ketaflow.controlled.registration import check_digit, dea_number_problem, with_check_digit
from ketaflow.errors import InvalidInput

D = Decimal
NURSE, WITNESS, DIRECTOR = (uuid.uuid4() for _ in range(3))
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


# --- DEA registration numbers -----------------------------------------------------------------


def test_the_textbook_example_number_passes_and_each_single_digit_change_fails() -> None:
    assert check_digit("612534") == 1
    assert dea_number_problem("BJ6125341") is None
    assert dea_number_problem(" bj6125341 ") is None  # typed in lower case, with spaces
    # One digit changed: caught, except a change by 5 in a doubled place (2 x 5 = 10 leaves the
    # last digit of the sum as it was) - the rule's own known blind spot.
    for i in range(2, 9):
        for digit in "0123456789":
            changed = "BJ6125341"[:i] + digit + "BJ6125341"[i + 1 :]
            if changed == "BJ6125341":
                continue
            doubled = i in (3, 5, 7)  # the 2nd, 4th and 6th digits
            blind = doubled and abs(int(digit) - int("BJ6125341"[i])) == 5
            assert (dea_number_problem(changed) is None) == blind, changed


@pytest.mark.parametrize("bad", ["", "B6125341", "BJ612534", "BJ61253411", "1J6125341", "BJ61253X1"])
def test_a_number_of_the_wrong_shape_is_refused_with_what_to_do(bad: str) -> None:
    problem = dea_number_problem(bad)
    assert problem is not None and "two letters and seven digits" in problem


def test_made_up_numbers_have_a_valid_check_digit() -> None:
    for n in range(50):
        assert dea_number_problem(with_check_digit("FB", f"{990000 + n:06d}")) is None


# --- adjustment causes and Form 106 ----------------------------------------------------------------


def test_a_cause_must_fit_the_sign_of_the_adjustment() -> None:
    check_cause(AdjustmentCause.LOSS, D("-10"))
    check_cause(AdjustmentCause.FOUND, D("5"))
    check_cause(AdjustmentCause.COUNTING_ERROR, D("5"))
    check_cause(AdjustmentCause.COUNTING_ERROR, D("-5"))
    with pytest.raises(InvalidInput, match="negative"):
        check_cause(AdjustmentCause.THEFT, D("10"))
    with pytest.raises(InvalidInput, match="more in the safe"):
        check_cause(AdjustmentCause.FOUND, D("-10"))
    assert {c for c in AdjustmentCause if c.reportable} == {AdjustmentCause.LOSS, AdjustmentCause.THEFT}


def _draft(cause: AdjustmentCause, dea: str | None, earlier: list[date]) -> object:
    return form_106(
        adjustment_id=uuid.uuid4(),
        cause=cause,
        discovered_at=datetime(2026, 12, 4, 19, 30, tzinfo=UTC),
        registrant=Registrant("Blue Heron Austin", dea, "1 Main St, Austin, TX 78701", "555-0100"),
        substances=(LostSubstance("12345-6789-01", "Ketamine", "50 mg/mL", "vial", D(10), D("0.2"), "KD1"),),
        reason="Not found after a search of the safe and the bins",
        booked_by="director1",
        witness="nurse1",
        earlier_losses=earlier,
    )


def test_form_106_draft_of_a_loss() -> None:
    draft = _draft(
        AdjustmentCause.LOSS,
        "FB9900003",
        [date(2025, 1, 1), date(2025, 6, 1), date(2024, 12, 1)],  # 2024-12-01 is over 24 months back
    )
    assert draft.discovered_on == date(2026, 12, 4)
    assert draft.notify_by == date(2026, 12, 5)  # one day after discovery (21 CFR 1301.76(b))
    assert draft.losses_in_past_24_months == 3  # two earlier within 730 days, and this one
    assert draft.type_of_loss == "Loss (cause unknown)"
    assert not any("DEA registration" in item for item in draft.to_complete)
    assert any("police" in item for item in draft.to_complete)


def test_form_106_draft_says_what_is_missing_and_refuses_a_non_loss() -> None:
    theft = _draft(AdjustmentCause.THEFT, None, [])
    assert "DEA registration number" in theft.to_complete[0]
    assert any("Type of theft" in item for item in theft.to_complete)
    with pytest.raises(InvalidInput, match="only a theft or loss"):
        _draft(AdjustmentCause.BREAKAGE, "FB9900003", [])


# --- the biennial inventory --------------------------------------------------------------------


def _e(kind: EntryKind, lot: Lot, mg: str, minutes: int, **kw: object) -> Entry:
    return Entry(uuid.uuid4(), kind, T0 + timedelta(minutes=minutes), lot.lot_id, D(mg), NURSE, **kw)  # type: ignore[arg-type]


def test_the_inventory_of_a_worked_history() -> None:
    product = Product("12345-6789-01", "Ketamine HCl", D(50), D(10), multi_dose=True)
    a = Lot(uuid.uuid4(), "KA1", date(2027, 1, 31))
    b = Lot(uuid.uuid4(), "KB2", date(2027, 6, 30))
    a_vials = [Vial(uuid.uuid4(), a.lot_id, D(500), True) for _ in range(3)]
    b_vials = [Vial(uuid.uuid4(), b.lot_id, D(500), True) for _ in range(2)]
    draw = _e(EntryKind.DRAW, a, "100", 10, vial_id=a_vials[0].vial_id)
    entries = [
        Entry(uuid.uuid4(), EntryKind.RECEIPT, T0, a.lot_id, D(1500), DIRECTOR),
        Entry(uuid.uuid4(), EntryKind.RECEIPT, T0, b.lot_id, D(1000), DIRECTOR),
        draw,  # lot A vial 1: 500 -> 400 mg; 100 mg in a bag
        _e(EntryKind.ADMINISTERED, a, "38.5", 60, draw_id=draw.entry_id),  # 61.5 mg still in the bag
        _e(EntryKind.COUNT, a, "1400", 70, witness=WITNESS),  # matches: 1500 - 100 drawn
        # After the inventory's moment (T0 + 2 h): ignored by it.
        _e(EntryKind.WASTE, a, "61.5", 180, draw_id=draw.entry_id, witness=WITNESS),
    ]

    def at(moment: datetime, close: bool = True) -> Inventory:
        products = {a.lot_id: product, b.lot_id: product}
        return biennial_inventory(
            [a, b], a_vials + b_vials, products, entries, at=moment, close_of_business=close
        )

    report = at(T0 + timedelta(hours=2))
    first, second = report.lines
    assert (first.lot, first.unopened_vials, first.unopened_mg) == ("KA1", 2, D(1000))
    assert (first.opened_vials, first.opened_mg, first.opened_ml) == (1, D(400), D("8.000"))
    assert first.in_bags_mg == D("61.5")
    assert first.on_hand_mg == D("1461.5")  # 1000 sealed + 400 opened + 61.5 in the bag
    assert (first.counted_mg, first.discrepancy_mg) == (D(1400), D(0))
    assert (second.lot, second.unopened_vials, second.opened_vials, second.on_hand_mg) == (
        "KB2",
        2,
        0,
        D(1000),
    )
    assert second.counted_at is None
    assert report.on_hand_mg == D("2461.5")
    assert first.strength == "50 mg/mL" and "10 mL multi-dose vial" in first.dosage_form
    # An entry exactly at the moment belongs to the next inventory.
    later = at(T0 + timedelta(minutes=180), close=False)
    assert later.lines[0].in_bags_mg == D("61.5")
    after = at(T0 + timedelta(minutes=181), close=False)
    assert after.lines[0].in_bags_mg == 0 and after.lines[0].on_hand_mg == D(1400)
