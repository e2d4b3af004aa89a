"""The rules data: every number has a source; clinic overrides; the ceiling cannot be raised."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ketaflow.clinical import (
    apply_overrides,
    compute_dose_order,
    default_rules,
    load_rules,
    unconfirmed_rules,
)
from ketaflow.clinical.levels import WeightPolicy
from ketaflow.clinical.rules import packaged_rules_raw
from ketaflow.errors import InvalidInput


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int | float):
        return True
    return isinstance(v, list) and any(_is_number(x) for x in v)


def _unsourced(node: Any, path: str, inherited: bool) -> list[str]:
    """Return the paths of tables that hold a number but carry no source."""
    bad: list[str] = []
    if isinstance(node, dict):
        src = node.get("source")
        has = isinstance(src, str) and len(src.strip()) >= 10
        if any(_is_number(v) for v in node.values()) and not (has or inherited):
            bad.append(path)
        for key, value in node.items():
            if isinstance(value, dict):
                bad += _unsourced(value, f"{path}.{key}", False)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    bad += _unsourced(item, f"{path}.{key}[{i}]", has)
    return bad


def _sources(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["source"]] if isinstance(node.get("source"), str) else []
        for v in node.values():
            out += _sources(v)
        return out
    if isinstance(node, list):
        return [s for v in node for s in _sources(v)]
    return []


def test_it_has_a_source_beside_every_number() -> None:
    assert _unsourced(packaged_rules_raw(), "rules", False) == []


def test_it_detects_a_number_without_a_source() -> None:
    raw = {"protocols": {"x": {"limits": {"dose": {"hard_max": 1.0}}}}}
    assert _unsourced(raw, "rules", False) == ["rules.protocols.x.limits.dose"]


def test_it_cites_a_year_or_label_or_says_the_source_was_not_found() -> None:
    for source in _sources(packaged_rules_raw()):
        cited = re.search(r"(19|20)\d\d", source) or "prescribing information" in source
        assert cited or "source not found" in source, source


def test_it_loads_every_area_of_the_defaults() -> None:
    rules = default_rules()
    assert set(rules.protocols) >= {
        "depression-induction",
        "depression-titration",
        "depression-maintenance",
        "chronic-pain-crps",
    }
    assert set(rules.scales) == {"phq9", "gad7", "madrs", "qids-sr16", "cadss", "cssrs"}
    assert rules.protocols["depression-induction"].default_dose_mg_per_kg == 0.5
    assert rules.protocols["depression-induction"].default_minutes == 40


def test_it_keeps_every_protocol_hard_max_at_or_below_the_ceiling() -> None:
    rules = default_rules()
    for p in rules.protocols.values():
        assert p.limits.dose_mg_per_kg.hard_max <= rules.ceiling.dose_mg_per_kg.value
        assert p.limits.rate_mg_per_kg_per_h.hard_max <= rules.ceiling.rate_mg_per_kg_per_h.value
        assert p.limits.total_mg.hard_max <= rules.ceiling.total_mg.value


def test_it_keeps_the_ceiling_below_the_anaesthetic_induction_rate() -> None:
    # Ketalar label: induction 1-2 mg/kg at 0.5 mg/kg/min (30 mg/kg/h), or 1-4.5 mg/kg in 60 s.
    rules = default_rules()
    assert rules.ceiling.rate_mg_per_kg_per_h.value < 30.0 / 10
    assert rules.ceiling.dose_mg_per_kg.value < 2.0  # the label's average induction dose


def test_it_applies_a_clinic_override_from_toml() -> None:
    rules = load_rules(
        """
        [dosing_weight]
        policy = "adjusted"

        [scales.madrs.remission]
        max_total = 12
        source = "Clinic policy 2026: esketamine trial definition (MADRS <= 12)"
        """
    )
    assert rules.dosing_weight.policy is WeightPolicy.ADJUSTED
    assert rules.scales["madrs"].remission is not None
    assert rules.scales["madrs"].remission.max_total == 12
    # untouched defaults survive the merge
    assert rules.scales["madrs"].items == 10
    assert default_rules().dosing_weight.policy is WeightPolicy.ACTUAL


def test_it_lets_a_clinic_lower_the_ceiling() -> None:
    override = {"ceiling": {"total_mg": {"value": 100.0, "source": "Clinic policy 2026: 100 mg cap"}}}
    rules = apply_overrides(default_rules(), override)
    assert rules.ceiling.total_mg.value == 100.0
    # within the titration protocol's own limits (150 mg), but above the clinic's ceiling
    args = {"dose_mg_per_kg": 1.0, "bag_mg": 200, "bag_ml": 200}
    assert compute_dose_order("depression-titration", 110, **args, rules=rules).status.value == "hard_limit"
    assert compute_dose_order("depression-titration", 100, **args, rules=rules).status.value == "soft_limit"
    assert compute_dose_order("depression-titration", 110, **args).status.value == "soft_limit"


@pytest.mark.parametrize("field", ["dose_mg_per_kg", "rate_mg_per_kg_per_h", "total_mg"])
def test_it_refuses_an_override_that_raises_the_ceiling(field: str) -> None:
    current = getattr(default_rules().ceiling, field).value
    override = {"ceiling": {field: {"value": current * 1.01, "source": "Clinic wish 2026 to raise"}}}
    with pytest.raises(InvalidInput, match="cannot raise the absolute ceiling"):
        apply_overrides(default_rules(), override)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "table",
    [
        "ceiling.dose_mg_per_kg",
        "ceiling.rate_mg_per_kg_per_h",
        "ceiling.total_mg",
    ],
)
def test_it_refuses_a_ceiling_that_is_not_a_finite_number(table: str, bad: str) -> None:
    # TOML can write nan and inf; a NaN ceiling compared false with every dose and
    # switched the ceiling off (4.5 mg/kg over 1 min came out as a soft limit).
    text = f'[{table}]\nvalue = {bad}\nsource = "Clinic policy 2026-11-25 test"\n'
    with pytest.raises(InvalidInput, match="finite number"):
        load_rules(text)


@pytest.mark.parametrize("field", ["hard_min", "soft_min", "soft_max", "hard_max"])
def test_it_refuses_a_limit_that_is_not_a_finite_number(field: str) -> None:
    limit = {"hard_max": 0.75, field: float("nan"), "source": "Clinic policy 2026-11-25 test"}
    override = {"protocols": {"depression-induction": {"limits": {"dose_mg_per_kg": limit}}}}
    with pytest.raises(InvalidInput, match="finite number"):
        load_rules(override)


def test_the_ceiling_check_refuses_a_nan_bound_even_if_one_got_through() -> None:
    from ketaflow.clinical.limits import check_ceiling

    ceiling = default_rules().ceiling.model_construct(
        dose_mg_per_kg=default_rules().ceiling.dose_mg_per_kg.model_construct(value=float("nan"), source="x"),
        rate_mg_per_kg_per_h=default_rules().ceiling.rate_mg_per_kg_per_h,
        total_mg=default_rules().ceiling.total_mg,
    )
    checks = check_ceiling(ceiling, dose_mg_per_kg=0.5, rate_mg_per_kg_per_h=0.75, total_mg=35.0)
    assert [c.quantity for c in checks] == ["dose"]


@pytest.mark.parametrize(
    "field",
    ["rate_resolution_ml_per_h", "volume_resolution_ml", "min_volume_ml", "max_duration_drift_fraction"],
)
@pytest.mark.parametrize("value", [0.0, -0.1])
def test_it_refuses_a_pump_setting_that_is_not_positive(field: str, value: float) -> None:
    # a zero resolution used to reach the rounding as a division by zero (a traceback)
    override = {"pump": {field: {"value": value, "source": "Clinic pump 2026-11-25 test"}}}
    with pytest.raises(InvalidInput, match="greater than 0"):
        load_rules(override)


def test_it_refuses_a_protocol_hard_max_above_the_ceiling() -> None:
    limit = {"hard_max": 4.5, "source": "Clinic wish 2026: anaesthetic dose"}
    override = {"protocols": {"depression-induction": {"limits": {"dose_mg_per_kg": limit}}}}
    with pytest.raises(InvalidInput, match="above the absolute ceiling"):
        apply_overrides(default_rules(), override)


def test_it_refuses_a_rule_without_a_source() -> None:
    override = {"ceiling": {"total_mg": {"value": 90.0, "source": ""}}}
    with pytest.raises(InvalidInput, match="without giving its source"):
        apply_overrides(default_rules(), override)


def test_it_refuses_limits_out_of_order() -> None:
    limit = {"soft_min": 10.0, "source": "Clinic policy 2026: shorter infusions"}
    override = {"protocols": {"depression-induction": {"limits": {"minutes": limit}}}}
    with pytest.raises(InvalidInput, match="not valid"):
        apply_overrides(default_rules(), override)


def test_it_reports_bad_toml_in_one_sentence() -> None:
    with pytest.raises(InvalidInput, match="not valid TOML"):
        load_rules("[dosing_weight\npolicy = 1")


def test_it_names_the_known_protocols_for_an_unknown_one() -> None:
    with pytest.raises(InvalidInput, match="depression-induction"):
        default_rules().protocol("depression-inductoin")


def test_it_lists_the_placeholders_a_director_must_confirm() -> None:
    pending = dict(unconfirmed_rules())
    assert "ceiling.total_mg" in pending
    assert "vitals.relative.systolic_rise" in pending
    assert "scales.phq9.remission" in pending  # cut-off not confirmed in the cited paper
    assert "ceiling.rate_mg_per_kg_per_h" not in pending
    overridden = load_rules(
        {"ceiling": {"total_mg": {"value": 150.0, "source": "Medical director 2026-01-10, clinic policy"}}}
    )
    assert "ceiling.total_mg" not in dict(unconfirmed_rules(overridden))


def test_it_refuses_an_override_number_without_its_own_source() -> None:
    # keeping the default's source beside a changed number would misattribute it
    with pytest.raises(InvalidInput, match="'scales.madrs.remission' changes a number without"):
        load_rules({"scales": {"madrs": {"remission": {"max_total": 12}}}})


def test_it_refuses_a_source_too_short_to_cite_anything() -> None:
    with pytest.raises(InvalidInput, match="not valid"):
        load_rules({"ceiling": {"total_mg": {"value": 90.0, "source": "me"}}})


@pytest.mark.parametrize(
    "skip",
    [
        {"when_item_is_zero": 7, "items": [3, 4, 5]},
        {"when_item_is_zero": 2, "items": [3, 4, 9]},
    ],
)
def test_it_refuses_a_skip_rule_naming_an_item_that_does_not_exist(skip: dict[str, Any]) -> None:
    # item 7 of the 6-question C-SSRS screener used to crash scoring with an IndexError
    override = {"scales": {"cssrs": {"skip": {**skip, "source": "Clinic policy 2026-11-25 test"}}}}
    with pytest.raises(InvalidInput, match="skip rule names an item outside 1-6"):
        load_rules(override)
