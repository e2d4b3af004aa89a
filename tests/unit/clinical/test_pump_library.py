"""Issue 13, faults 3 and 5: the CRPS hourly cap and the pump's drug-library entry."""

from __future__ import annotations

import pytest

from ketaflow.clinical import OrderStatus, compute_dose_order, default_rules

OK, SOFT, HARD = OrderStatus.OK, OrderStatus.SOFT_LIMIT, OrderStatus.HARD_LIMIT


# ---- fault 3: Schwartzman 2009 never exceeded 25 mg/h --------------------------------------
def test_the_crps_protocol_has_the_trials_hourly_cap() -> None:
    cap = default_rules().protocol("chronic-pain-crps").limits.rate_mg_per_h
    assert cap is not None and cap.hard_max == 25
    assert "Schwartzman" in cap.source and "2009" in cap.source


def test_the_default_crps_order_for_100_kg_is_capped_at_25_mg_per_hour() -> None:
    o = compute_dose_order("chronic-pain-crps", 100, bag_mg=200, bag_ml=200)
    assert o.status is OK
    assert o.dose_mg / (o.minutes / 60) == pytest.approx(25.0, abs=0.01)
    assert any("25 mg/h" in m for m in o.messages)


def test_an_explicit_crps_order_above_25_mg_per_hour_is_refused() -> None:
    o = compute_dose_order("chronic-pain-crps", 100, dose_mg_per_kg=1.4, bag_mg=200, bag_ml=200)
    assert o.status is HARD
    assert any("mg/h" in m for m in o.messages)


def test_a_70_kg_crps_order_is_under_the_cap_and_unchanged() -> None:
    o = compute_dose_order("chronic-pain-crps", 70, bag_mg=200, bag_ml=200)
    assert o.status is OK and o.dose_mg_per_kg == pytest.approx(1.4)


# ---- fault 5: concentration range, minimum volume, no duration drift ------------------------
def test_nearly_undiluted_ketamine_is_refused() -> None:
    # the example: 70 kg induction from 500 mg in 10 mL (50 mg/mL) was "ok" as 0.7 mL
    o = compute_dose_order("depression-induction", 70, bag_mg=500, bag_ml=10)
    assert o.status is HARD
    assert any("mg/mL" in m for m in o.messages)


def test_the_label_dilution_is_ok_and_the_fluid_restricted_one_needs_a_reason() -> None:
    assert compute_dose_order("depression-induction", 70, bag_mg=100, bag_ml=100).status is OK  # 1 mg/mL
    two = compute_dose_order("depression-induction", 70, bag_mg=100, bag_ml=50)  # 2 mg/mL
    assert two.status is SOFT
    assert compute_dose_order("depression-induction", 70, bag_mg=100, bag_ml=40).status is HARD  # 2.5


def test_a_volume_below_the_minimum_is_refused() -> None:
    pump = default_rules().pump
    assert pump.min_volume_ml.value >= 5
    # 0.1 mg/kg x 45 kg = 4.5 mg = 4.5 mL at 1 mg/mL
    o = compute_dose_order("depression-induction", 45, dose_mg_per_kg=0.1, bag_mg=100, bag_ml=100, minutes=40)
    assert o.status is HARD
    assert any("minimum volume" in m for m in o.messages)


def test_the_delivered_duration_never_drifts_beyond_the_tolerance() -> None:
    tolerance = default_rules().pump.max_duration_drift_fraction.value
    for weight in (45.0, 52.3, 61.7, 70.0, 83.3, 99.9, 120.0):
        for bag_mg, bag_ml in ((100, 100), (200, 200), (100, 50), (50, 100)):
            o = compute_dose_order("depression-induction", weight, bag_mg=bag_mg, bag_ml=bag_ml)
            if o.status is HARD:
                continue
            assert abs(o.delivered_minutes - o.minutes) <= tolerance * o.minutes, (weight, bag_mg, bag_ml)
