"""Property: no input and no clinic configuration yields an order above the absolute ceiling."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ketaflow.clinical import OrderStatus, Sex, compute_dose_order, default_rules, load_rules
from ketaflow.errors import InvalidInput

CEILING = default_rules().ceiling
PROTOCOLS = sorted(default_rules().protocols)
positive = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)


@st.composite
def clinic_overrides(draw: st.DrawFn) -> dict[str, Any]:
    """Arbitrary clinic overrides, including attempts to raise the ceiling and the limits."""
    override: dict[str, Any] = {}
    if draw(st.booleans()):
        override["dosing_weight"] = {"policy": draw(st.sampled_from(["actual", "adjusted", "ideal"]))}
    if draw(st.booleans()):
        field = draw(st.sampled_from(["dose_mg_per_kg", "rate_mg_per_kg_per_h", "total_mg"]))
        packaged = getattr(CEILING, field).value
        # including values TOML can write that compare false with everything
        value = draw(
            st.floats(min_value=0.01, max_value=packaged * 1.2)
            | st.sampled_from([float("nan"), float("inf"), float("-inf")])
        )
        override["ceiling"] = {field: {"value": value, "source": "Hypothesis clinic 2026"}}
    if draw(st.booleans()):
        key = draw(st.sampled_from(PROTOCOLS))
        quantity = draw(st.sampled_from(["dose_mg_per_kg", "rate_mg_per_kg_per_h", "total_mg", "minutes"]))
        hard_max = draw(
            st.floats(min_value=0.01, max_value=300.0) | st.sampled_from([float("nan"), float("inf")])
        )
        limit = {
            "hard_min": None,
            "soft_min": None,
            "soft_max": None,
            "hard_max": hard_max,
            "source": "Hypothesis clinic 2026",
        }
        override["protocols"] = {key: {"limits": {quantity: limit}}}
    if draw(st.booleans()):
        override["pump"] = {
            "rate_resolution_ml_per_h": {
                "value": draw(st.sampled_from([0.01, 0.1, 1.0, 10.0])),
                "source": "Hypothesis pump 2026",
            }
        }
    return override


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    protocol=st.sampled_from(PROTOCOLS),
    weight_kg=st.floats(min_value=25, max_value=320) | st.sampled_from([0.0, -1.0, float("nan")]),
    height_cm=st.none() | st.floats(min_value=100, max_value=250),
    sex=st.none() | st.sampled_from(list(Sex)),
    dose_mg_per_kg=st.none()
    | st.floats(min_value=0.01, max_value=5)
    | st.sampled_from([float("nan"), float("inf")]),
    minutes=st.none() | st.floats(min_value=0.5, max_value=1500),
    bag_mg=positive,
    bag_ml=positive,
    override=clinic_overrides(),
)
def test_it_never_orders_above_the_absolute_ceiling(
    protocol: str,
    weight_kg: float,
    height_cm: float | None,
    sex: Sex | None,
    dose_mg_per_kg: float | None,
    minutes: float | None,
    bag_mg: float,
    bag_ml: float,
    override: dict[str, Any],
) -> None:
    try:
        rules = load_rules(override)
        o = compute_dose_order(
            protocol,
            weight_kg,
            bag_mg=bag_mg,
            bag_ml=bag_ml,
            dose_mg_per_kg=dose_mg_per_kg,
            minutes=minutes,
            height_cm=height_cm,
            sex=sex,
            rules=rules,
        )
    except InvalidInput:
        event("refused as invalid input")
        return  # refused with a sentence: no order at all
    event(f"order status {o.status.value}")
    # the clinic's ceiling can only be at or below the packaged one, and it is enforced
    assert rules.ceiling.dose_mg_per_kg.value <= CEILING.dose_mg_per_kg.value
    clinic = rules.ceiling
    if o.status is OrderStatus.HARD_LIMIT:
        return  # refused
    w = o.dosing_weight_kg
    assert o.dose_mg_per_kg <= CEILING.dose_mg_per_kg.value
    assert o.rate_mg_per_kg_per_h <= CEILING.rate_mg_per_kg_per_h.value
    assert o.dose_mg <= CEILING.total_mg.value
    assert o.delivered_dose_mg <= CEILING.total_mg.value
    assert o.delivered_dose_mg / w <= CEILING.dose_mg_per_kg.value
    # what the pump really runs: programmed rate x concentration / dosing weight
    assert o.rate_ml_per_h * (bag_mg / bag_ml) / w <= CEILING.rate_mg_per_kg_per_h.value
    assert w <= weight_kg
    assert o.dose_mg_per_kg <= clinic.dose_mg_per_kg.value
    assert o.rate_mg_per_kg_per_h <= clinic.rate_mg_per_kg_per_h.value
    assert o.delivered_dose_mg <= clinic.total_mg.value


@settings(max_examples=400, deadline=None)
@given(
    protocol=st.sampled_from(PROTOCOLS),
    weight_kg=st.floats(min_value=30, max_value=300),
    dose_mg_per_kg=st.floats(min_value=0.05, max_value=3.0),
    minutes=st.floats(min_value=1, max_value=400),
    concentration_mg_per_ml=st.floats(min_value=0.1, max_value=50),
)
def test_it_never_accepts_an_order_above_the_ceiling_in_the_clinical_range(
    protocol: str,
    weight_kg: float,
    dose_mg_per_kg: float,
    minutes: float,
    concentration_mg_per_ml: float,
) -> None:
    o = compute_dose_order(
        protocol,
        weight_kg,
        bag_mg=concentration_mg_per_ml * 500,  # 500 mL bag
        bag_ml=500,
        dose_mg_per_kg=dose_mg_per_kg,
        minutes=minutes,
    )
    over = (
        dose_mg_per_kg > CEILING.dose_mg_per_kg.value
        or dose_mg_per_kg / (minutes / 60) > CEILING.rate_mg_per_kg_per_h.value
        or dose_mg_per_kg * weight_kg > CEILING.total_mg.value
    )
    event(f"order status {o.status.value}")
    if over:
        assert o.status is OrderStatus.HARD_LIMIT
    if o.status is not OrderStatus.HARD_LIMIT:
        assert o.delivered_dose_mg <= CEILING.total_mg.value
        assert o.rate_ml_per_h * concentration_mg_per_ml / weight_kg <= CEILING.rate_mg_per_kg_per_h.value


@settings(max_examples=300, deadline=None)
@given(
    protocol=st.sampled_from(PROTOCOLS),
    weight_kg=st.floats(min_value=30, max_value=300),
    dose_factor=st.floats(min_value=0.2, max_value=2.5),
    minutes_factor=st.floats(min_value=0.5, max_value=1.5),
    concentration_mg_per_ml=st.sampled_from([0.5, 1.0, 2.0, 10.0]),
)
def test_it_keeps_accepted_orders_near_the_protocol_under_the_ceiling(
    protocol: str,
    weight_kg: float,
    dose_factor: float,
    minutes_factor: float,
    concentration_mg_per_ml: float,
) -> None:
    p = default_rules().protocols[protocol]
    o = compute_dose_order(
        protocol,
        weight_kg,
        bag_mg=concentration_mg_per_ml * 1000,
        bag_ml=1000,
        dose_mg_per_kg=p.default_dose_mg_per_kg * dose_factor,
        minutes=p.default_minutes * minutes_factor,
    )
    event(f"order status {o.status.value}")
    if o.status is not OrderStatus.HARD_LIMIT:
        assert o.dose_mg_per_kg <= CEILING.dose_mg_per_kg.value
        assert o.rate_mg_per_kg_per_h <= CEILING.rate_mg_per_kg_per_h.value
        assert o.delivered_dose_mg <= CEILING.total_mg.value
        assert o.rate_ml_per_h * concentration_mg_per_ml / weight_kg <= CEILING.rate_mg_per_kg_per_h.value
        assert o.dose_mg_per_kg <= p.limits.dose_mg_per_kg.hard_max * (1 + 1e-6)
