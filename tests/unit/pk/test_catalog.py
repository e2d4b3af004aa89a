"""Models, routes and bands are cited data; adding a model is adding data."""

from __future__ import annotations

import warnings

import pytest

import ketaflow.pk as pk
from ketaflow.errors import InvalidInput
from ketaflow.pk.catalog import _model_from_table


def test_it_ships_the_three_required_models_with_citations() -> None:
    names = {m.name for m in pk.list_models()}
    assert {"domino", "kamp2020", "clements1981"} <= names
    for m in pk.list_models():
        assert m.citation.pmid or m.citation.doi
        assert m.citation.year > 1900 and m.citation.authors and m.citation.journal
        assert m.fitted_range.population
        assert m.parameter_source
        assert "tpeak" in m.ke0_rule or "peaks" in m.ke0_rule
    assert pk.get_model("kamp2020").citation.doi == "10.1097/ALN.0000000000003577"
    assert pk.get_model("domino").compartments == 3
    assert pk.get_model("clements1981").compartments == 2


def test_it_converts_rate_constants_to_clearances() -> None:
    d = pk.disposition(pk.get_model("domino"), 70.0)
    assert d.v1_l[0] == pytest.approx(0.063 * 70)
    assert d.k10_per_min[0] == pytest.approx(0.4381)
    assert d.k12_per_min[0] == pytest.approx(0.5921)
    assert d.k13_per_min[0] == pytest.approx(0.5900)
    assert d.k21_per_min[0] == pytest.approx(0.2470)
    assert d.k31_per_min[0] == pytest.approx(0.0146)


def test_it_scales_kamp_with_weight() -> None:
    d = pk.disposition(pk.get_model("kamp2020"), 140.0)
    assert d.v1_l[0] == pytest.approx(50.0)
    assert d.k10_per_min[0] == pytest.approx(84 / 60 / 25)


def test_it_rejects_an_unknown_model_or_route() -> None:
    with pytest.raises(InvalidInput, match="Unknown pharmacokinetic model 'propofol'"):
        pk.get_model("propofol")
    with pytest.raises(ValueError, match="Unknown route"):
        pk.get_route("rectal-ish")


def test_it_warns_outside_the_fitted_range_but_still_simulates() -> None:
    regimen = pk.weight_based_infusion(70.0, 0.5, 40.0)
    with pytest.warns(pk.OutsideFittedRangeWarning, match="hornik2018"):
        sim = pk.simulate("hornik2018", 70.0, regimen, until_min=60, step_s=60, age_yr=40)
    assert sim.warnings and "age 40 y is above the fitted 18 y" in sim.warnings[0]
    assert sim.summary.cmax_ng_per_ml > 0
    with pytest.warns(pk.OutsideFittedRangeWarning):
        pk.simulate("domino", 30.0, regimen, until_min=60, step_s=60, age_yr=12)


def test_it_does_not_warn_inside_the_range() -> None:
    regimen = pk.weight_based_infusion(70.0, 0.5, 40.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim = pk.simulate("kamp2020", 70.0, regimen, until_min=60, step_s=60, age_yr=40)
    assert sim.warnings == ()


def test_a_new_model_is_just_data() -> None:
    table = {
        "name": "toy",
        "title": "one-compartment toy",
        "compartments": 1,
        "form": "clearances",
        "authors": "Nobody A",
        "year": 2000,
        "journal": "Nowhere",
        "pmid": "1",
        "population": "adults",
        "ref_weight_kg": 70.0,
        "v1_l": 100.0,
        "cl_l_per_min": 1.0,
        "parameter_source": "made up for the test",
        "omega_v1": 0.2,
    }
    spec = _model_from_table(table, 1.0, "rule")
    assert spec.compartments == 1 and spec.omega == {"v1": 0.2, "cl": 0.0}
    with pytest.raises(InvalidInput, match="positive"):
        _model_from_table({**table, "v1_l": -1.0}, 1.0, "rule")


@pytest.mark.parametrize("model", ["domino", "kamp2020", "clements1981", "hornik2018"])
def test_the_derived_ke0_puts_the_effect_peak_at_one_minute(model: str) -> None:
    from ketaflow.pk.parameters import effect_peak_time_min

    spec = pk.get_model(model)
    d = pk.disposition(spec, spec.ref_weight_kg)
    assert effect_peak_time_min(d) == pytest.approx(1.0, abs=1e-8)


def test_routes_and_bands_carry_sources() -> None:
    routes = {r.name: r for r in pk.list_routes()}
    assert {"iv", "im", "intranasal", "oral", "sublingual"} <= set(routes)
    assert routes["im"].f_typ == pytest.approx(0.93)
    for r in routes.values():
        assert r.source and r.clinic_dose_source
        assert 0 < r.f_typ <= 1
    bands = {b.name: b for b in pk.concentration_bands()}
    assert bands["anaesthetic"].low_ng_per_ml > bands["antidepressant_subanaesthetic"].high_ng_per_ml
    assert all("doi" in b.source for b in bands.values())
    assert bands["awakening_after_anaesthesia"].low_ng_per_ml == pytest.approx(
        2.7 * 237.7 - 0.9 * 237.7, abs=1
    )
    assert [b.name for b in pk.bands_containing(185.0)] == ["antidepressant_subanaesthetic"]
