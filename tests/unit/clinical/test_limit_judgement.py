"""The one judgement of crossed limits that dose orders and treatment plans share."""

from __future__ import annotations

import pytest

from ketaflow.clinical import OrderStatus, compute_dose_order
from ketaflow.clinical.limits import LIMITED_INPUT, LimitCheck, judge_limits
from ketaflow.errors import InvalidInput

OK, SOFT, HARD = OrderStatus.OK, OrderStatus.SOFT_LIMIT, OrderStatus.HARD_LIMIT


def check(quantity: str, status: OrderStatus, message: str = "") -> LimitCheck:
    return LimitCheck(quantity, 1.0, "unit", status, message or f"{quantity} crossed", "a source")


def test_within_limits_it_stands_and_keeps_no_reason() -> None:
    verdict = judge_limits([], "a reason nobody needed", what="dose")
    assert verdict.status is OK and verdict.override_reason is None


@pytest.mark.parametrize("reason", ["", "  ", "because the patient asked"])
def test_a_hard_limit_is_refused_whatever_the_reason(reason: str) -> None:
    checks = [check("rate", SOFT, "rate is high"), check("dose", HARD, "dose is above the hard maximum")]
    with pytest.raises(InvalidInput) as refused:
        judge_limits(checks, reason, what="dose")
    assert refused.value.message == "Refused by the hard limit: dose is above the hard maximum"
    assert refused.value.field == "dose_mg_per_kg"  # the input to change


def test_a_refusal_that_is_not_a_limit_is_refused_first_with_no_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        judge_limits([check("dose", HARD, "dose too high")], "why", what="dose", refusals=["bag too small"])
    assert refused.value.message == "Refused by the hard limit: bag too small dose too high"
    assert refused.value.field is None


@pytest.mark.parametrize("reason", ["", " \n\t "])
def test_a_soft_limit_needs_a_written_reason(reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        judge_limits([check("duration", SOFT, "duration is long")], reason, what="plan")
    assert refused.value.message == (
        "This plan is beyond a soft limit (duration is long); write your reason to go beyond it."
    )
    assert refused.value.field == "reason"


def test_a_soft_limit_with_a_reason_stands_with_the_reason_naming_each_limit_once() -> None:
    checks = [check("dose", SOFT), check("rate", SOFT), check("dose", SOFT)]
    verdict = judge_limits(checks, "  partial response\nat 0.5  ", what="dose")
    assert verdict.status is SOFT
    assert verdict.override_reason == (
        "Outside the protocol's soft limits (dose, rate): partial response\nat 0.5"
    )


def test_the_field_of_a_limit_comes_from_the_callers_map() -> None:
    with pytest.raises(InvalidInput) as refused:
        judge_limits([check("planned infusions", HARD)], "", what="plan", field_of={"planned infusions": "n"})
    assert refused.value.field == "n"
    assert LIMITED_INPUT["duration"] == "minutes"


@pytest.mark.parametrize(
    ("dose", "minutes", "bag_mg", "bag_ml", "status"),
    [
        (0.5, 40, 100, 100, OK),
        (0.6, 40, 100, 100, SOFT),  # above the soft maximum 0.5 mg/kg
        (0.8, 40, 100, 100, HARD),  # above the hard maximum 0.75 mg/kg
        (0.5, 40, 20, 20, HARD),  # the bag holds 20 mg; the order needs 35 mg
    ],
)
def test_it_agrees_with_the_status_of_a_computed_order(
    dose: float, minutes: float, bag_mg: float, bag_ml: float, status: OrderStatus
) -> None:
    order = compute_dose_order(
        "depression-induction", 70, dose_mg_per_kg=dose, minutes=minutes, bag_mg=bag_mg, bag_ml=bag_ml
    )
    assert order.status is status
    try:
        verdict = judge_limits(order.checks, "reviewed", what="dose", refusals=order.refusals)
    except InvalidInput:
        assert status is HARD
    else:
        assert verdict.status is status
