"""Dose orders: dosing weight, pump programming and rounding, soft and hard limits."""

from __future__ import annotations

import math

import pytest

from ketaflow.clinical import (
    OrderStatus,
    Sex,
    WeightPolicy,
    compute_dose_order,
    dosing_weight,
    load_rules,
)
from ketaflow.clinical.dosing import ideal_body_weight_kg, round_down
from ketaflow.errors import InvalidInput

OK, SOFT, HARD = OrderStatus.OK, OrderStatus.SOFT_LIMIT, OrderStatus.HARD_LIMIT


def order(protocol: str = "depression-induction", weight: float = 80.0, **kw: float) -> OrderStatus:
    kw.setdefault("bag_mg", 200.0)
    kw.setdefault("bag_ml", 200.0)
    return compute_dose_order(protocol, weight, **kw).status  # type: ignore[arg-type]


def test_it_computes_the_issue_example() -> None:
    o = compute_dose_order(
        "depression-induction", 82, height_cm=178, dose_mg_per_kg=0.5, minutes=40, bag_mg=100, bag_ml=100
    )
    assert o.dosing_weight_kg == 82
    assert o.dose_mg == 41.0
    assert o.concentration_mg_per_ml == 1.0
    assert o.volume_ml == 41.0
    assert o.rate_ml_per_h == 61.5  # 41 mL over 40 min
    assert o.status is OK
    assert o.messages == ()
    assert o.bmi_kg_per_m2 == 25.9


def test_it_uses_the_protocol_defaults() -> None:
    o = compute_dose_order("depression-induction", 70, bag_mg=50, bag_ml=50)
    assert (o.dose_mg_per_kg, o.minutes, o.dose_mg) == (0.5, 40, 35.0)


def test_it_rounds_the_pump_down_and_shows_it() -> None:
    # 0.5 mg/kg x 83.3 kg = 41.65 mg -> 41.6 mL at 1 mg/mL; 41.6 mL / (2/3 h) = 62.4 mL/h
    o = compute_dose_order("depression-induction", 83.3, bag_mg=100, bag_ml=100)
    assert o.volume_ml_exact == 41.65
    assert o.volume_ml == 41.6
    assert o.rate_ml_per_h == 62.4
    assert o.delivered_dose_mg == 41.6
    assert "rounded down" in o.rounding
    assert o.status is OK


def test_it_rounds_down_exactly_in_decimal() -> None:
    assert round_down(61.5, 0.1) == 61.5
    assert round_down(62.25, 0.1) == 62.2
    assert round_down(0.3, 0.1) == 0.3  # no binary-float surprise
    assert round_down(0.09, 0.1) == 0.0


def test_it_uses_a_dilute_concentration() -> None:
    o = compute_dose_order("depression-induction", 80, bag_mg=50, bag_ml=100)
    assert o.concentration_mg_per_ml == 0.5
    assert o.volume_ml == 80.0
    assert o.rate_ml_per_h == 120.0


# ------------------------------------------------------------------ limits: just below / at / above
@pytest.mark.parametrize(
    ("dose", "expected"),
    [
        (0.09, HARD),  # below hard_min 0.1
        (0.1, SOFT),  # at hard_min, below soft_min
        (0.49, SOFT),
        (0.5, OK),  # soft_min = soft_max = 0.5
        (0.51, SOFT),
        (0.75, SOFT),  # at hard_max
        (0.76, HARD),
    ],
)
def test_it_applies_the_induction_dose_limits(dose: float, expected: OrderStatus) -> None:
    assert order(dose_mg_per_kg=dose, weight=70) is expected


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(39, HARD), (40, OK), (41, SOFT), (100, SOFT), (101, HARD)],
)
def test_it_applies_the_induction_duration_limits(minutes: float, expected: OrderStatus) -> None:
    assert order(minutes=minutes, weight=70) is expected


@pytest.mark.parametrize(
    ("dose", "minutes", "expected"),
    [
        (0.5, 40, OK),  # 0.75 mg/kg/h = soft max
        (0.75, 40, SOFT),  # 1.125 mg/kg/h = hard max (dose soft too)
        (1.0, 40, HARD),  # 1.5 mg/kg/h
    ],
)
def test_it_applies_the_induction_rate_limits(dose: float, minutes: float, expected: OrderStatus) -> None:
    assert order(dose_mg_per_kg=dose, minutes=minutes, weight=70) is expected


@pytest.mark.parametrize(
    ("weight", "expected"),
    [(119.8, OK), (120.0, OK), (120.2, SOFT), (199.8, SOFT), (200.0, SOFT), (200.2, HARD)],
)
def test_it_applies_the_induction_total_mg_limits(weight: float, expected: OrderStatus) -> None:
    # soft max 60 mg (0.5 mg/kg x 120 kg), hard max 100 mg (200 kg)
    assert order(weight=weight) is expected


@pytest.mark.parametrize(
    ("dose", "expected"),
    [(0.49, HARD), (0.5, OK), (0.75, OK), (0.76, SOFT), (1.0, SOFT), (1.01, HARD)],
)
def test_it_applies_the_titration_dose_limits(dose: float, expected: OrderStatus) -> None:
    assert order("depression-titration", 60, dose_mg_per_kg=dose) is expected


@pytest.mark.parametrize(
    ("dose", "minutes", "expected"),
    [
        (1.4, 240, OK),  # 0.35 mg/kg/h x 4 h (Cohen 2018)
        (1.4, 239, SOFT),
        (1.5, 240, HARD),  # 0.375 mg/kg/h = 30 mg/h at 80 kg: above the trial's 25 mg/h (issue 13)
        (1.4, 119, HARD),  # below the 2-hour minimum
        (1.4, 120, HARD),  # 0.7 mg/kg/h, above the hard rate 0.42
        (1.51, 240, HARD),  # above the absolute ceiling
    ],
)
def test_it_applies_the_crps_limits(dose: float, minutes: float, expected: OrderStatus) -> None:
    assert order("chronic-pain-crps", 70, dose_mg_per_kg=dose, minutes=minutes) is expected


def test_it_explains_a_soft_limit() -> None:
    o = compute_dose_order("depression-induction", 70, dose_mg_per_kg=0.6, bag_mg=100, bag_ml=100)
    assert o.status is SOFT
    assert any("psychiatrist's written reason" in m for m in o.messages)
    assert all(c.source for c in o.checks)


def test_it_refuses_an_anaesthetic_dose() -> None:
    o = compute_dose_order("depression-induction", 80, dose_mg_per_kg=2.0, minutes=1, bag_mg=500, bag_ml=50)
    assert o.status is HARD
    assert any("absolute ceiling" in m for m in o.messages)


def test_it_refuses_a_bag_that_is_too_small() -> None:
    o = compute_dose_order("depression-induction", 100, bag_mg=40, bag_ml=40)
    assert o.status is HARD
    assert any("bag holds 40 mL" in m for m in o.messages)


@pytest.mark.parametrize(("bag_mg", "expected"), [(50.0, OK), (100.0, SOFT), (101.0, HARD), (2500.0, HARD)])
def test_it_refuses_undiluted_ketamine(bag_mg: float, expected: OrderStatus) -> None:
    # issue 13: the label dilutes infusions to 1 mg/mL (2 mg/mL if fluid-restricted)
    assert order(weight=70, bag_mg=bag_mg, bag_ml=50) is expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weight_kg": 0}, "Weight must be a number above 0 kg; got 0."),
        ({"weight_kg": -5}, "Weight must be a number above 0 kg"),
        ({"weight_kg": math.nan}, "Weight must be a number above 0 kg"),
        ({"weight_kg": 20}, "Weight must be between 30 and 300 kg"),
        ({"weight_kg": 400}, "Weight must be between 30 and 300 kg"),
        ({"bag_ml": 0}, "Bag volume must be a number above 0 mL"),
        ({"bag_mg": 0}, "Bag drug amount must be a number above 0 mg"),
        ({"dose_mg_per_kg": 0}, "Dose must be a number above 0 mg/kg"),
        ({"minutes": 0}, "Duration must be a number above 0 min"),
        ({"height_cm": 17.8}, "Height must be between 120 and 230 cm"),
        ({"protocol": "depresion"}, "Unknown protocol 'depresion'"),
    ],
)
def test_it_refuses_unusable_input_in_one_sentence(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "protocol": "depression-induction",
        "weight_kg": 80,
        "bag_mg": 100,
        "bag_ml": 100,
    }
    args.update(kwargs)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        compute_dose_order(**args)  # type: ignore[arg-type]


# ------------------------------------------------------------------ dosing weight policy
def test_it_uses_actual_weight_by_default() -> None:
    w = dosing_weight(130, height_cm=170)
    assert w.basis is WeightPolicy.ACTUAL
    assert w.dosing_weight_kg == 130


def test_it_computes_devine_ideal_body_weight() -> None:
    # 5 ft 10 in = 177.8 cm: male 50 + 2.3 x 10 = 73.0 kg; female 45.5 + 23 = 68.5 kg
    assert ideal_body_weight_kg(177.8, Sex.MALE) == pytest.approx(73.0)
    assert ideal_body_weight_kg(177.8, Sex.FEMALE) == pytest.approx(68.5)


ADJUSTED = load_rules({"dosing_weight": {"policy": "adjusted"}})
IDEAL = load_rules({"dosing_weight": {"policy": "ideal"}})


@pytest.mark.parametrize(
    ("weight", "basis"),
    [(94.5, WeightPolicy.ACTUAL), (94.9, WeightPolicy.ADJUSTED), (96.0, WeightPolicy.ADJUSTED)],
)
def test_it_switches_to_adjusted_weight_at_the_bmi_cutoff(weight: float, basis: WeightPolicy) -> None:
    # 177.8 cm: BMI 30 at 94.84 kg
    w = dosing_weight(weight, height_cm=177.8, sex=Sex.MALE, rules=ADJUSTED)
    assert w.basis is basis


def test_it_computes_adjusted_body_weight() -> None:
    w = dosing_weight(123.0, height_cm=177.8, sex=Sex.MALE, rules=ADJUSTED)
    assert w.dosing_weight_kg == pytest.approx(73.0 + 0.4 * 50.0)
    w = dosing_weight(123.0, height_cm=177.8, sex=Sex.MALE, rules=IDEAL)
    assert w.dosing_weight_kg == pytest.approx(73.0)


def test_it_asks_for_height_and_sex_when_the_policy_needs_them() -> None:
    with pytest.raises(InvalidInput, match="enter the patient's height"):
        dosing_weight(123.0, rules=ADJUSTED)
    with pytest.raises(InvalidInput, match="enter the patient's sex"):
        dosing_weight(123.0, height_cm=177.8, rules=ADJUSTED)
    assert dosing_weight(70.0, height_cm=177.8, rules=ADJUSTED).basis is WeightPolicy.ACTUAL


def test_it_doses_on_adjusted_weight_in_the_order() -> None:
    o = compute_dose_order(
        "depression-induction", 123, height_cm=177.8, sex=Sex.MALE, bag_mg=100, bag_ml=100, rules=ADJUSTED
    )
    assert o.weight_basis is WeightPolicy.ADJUSTED
    assert o.dose_mg == pytest.approx(0.5 * 93.0)


def crossed(protocol: str, weight: float, dose: float, minutes: float) -> dict[str, OrderStatus]:
    o = compute_dose_order(protocol, weight, dose_mg_per_kg=dose, minutes=minutes, bag_mg=500, bag_ml=500)
    return {c.quantity: c.status for c in o.checks}


@pytest.mark.parametrize(
    ("minutes", "rate_status"),
    # 1.4 mg/kg over 201, 200, 199 min = 0.418, 0.42 (the hard max), 0.422 mg/kg/h;
    # all are above the soft max 0.35 mg/kg/h
    [(201, SOFT), (200, SOFT), (199, HARD)],
)
def test_it_applies_the_crps_hard_rate_limit(minutes: float, rate_status: OrderStatus) -> None:
    assert crossed("chronic-pain-crps", 70, 1.4, minutes)["rate"] is rate_status


@pytest.mark.parametrize(
    ("dose", "rate_status"),
    [(0.74, None), (0.75, None), (0.76, SOFT), (1.0, SOFT), (1.01, HARD)],
)  # over 40 min: soft max 1.125 mg/kg/h (0.75 mg/kg), hard max 1.5 (1.0 mg/kg)
def test_it_applies_the_titration_rate_limits(dose: float, rate_status: OrderStatus | None) -> None:
    assert crossed("depression-titration", 70, dose, 40).get("rate") is rate_status


@pytest.mark.parametrize(("weight", "hard"), [(149.8, False), (150.0, False), (150.2, True)])
def test_it_applies_the_absolute_total_mg_ceiling(weight: float, hard: bool) -> None:
    o = compute_dose_order("depression-titration", weight, dose_mg_per_kg=1.0, bag_mg=500, bag_ml=500)
    assert (o.status is HARD) is hard
    assert any("absolute ceiling" in m for m in o.messages) is hard
