"""Routes: derived ka reproduces the reported tmax; IV is the least variable."""

from __future__ import annotations

import pytest

import ketaflow.pk as pk
from ketaflow.pk import ExtravascularDose, Regimen


@pytest.mark.parametrize("route", ["im", "intranasal", "oral", "sublingual"])
def test_the_typical_ka_gives_a_reported_tmax(route: str) -> None:
    spec = pk.get_route(route)
    reg = Regimen(extravascular=(ExtravascularDose(0.0, 50.0, route),))
    sim = pk.simulate("kamp2020", 70.0, reg, until_min=300, step_s=6)
    assert spec.reported_tmax_min is not None and spec.target_tmax_min is not None
    lo, hi = spec.reported_tmax_min
    assert lo <= sim.summary.tmax_min <= hi
    assert sim.summary.tmax_min == pytest.approx(spec.target_tmax_min, abs=1.0)


def test_bioavailability_scales_the_area() -> None:
    dose = 50.0
    iv = pk.simulate("kamp2020", 70.0, Regimen(boluses=(pk.Bolus(0.0, dose),)), until_min=6000,
                     step_s=60)  # fmt: skip
    oral = pk.simulate(
        "kamp2020", 70.0, Regimen(extravascular=(ExtravascularDose(0.0, dose, "oral"),)),
        until_min=6000, step_s=60,
    )  # fmt: skip
    ratio = oral.summary.auc_ng_min_per_ml / iv.summary.auc_ng_min_per_ml
    assert ratio == pytest.approx(pk.get_route("oral").f_typ, rel=1e-3)


def test_iv_is_the_least_variable_route() -> None:
    results = {r.route: r for r in pk.compare_routes(70.0, 400, seed=1, step_s=60)}
    assert set(results) == {"iv", "im", "intranasal", "oral"}
    assert results["iv"].dose_description == "0.5 mg/kg over 40 min"
    assert results["iv"].dose_mg == pytest.approx(35.0)
    for name in ("intranasal", "oral"):
        assert results[name].cmax.cv > 2 * results["iv"].cmax.cv
    for r in results.values():
        assert r.cmax.p5 < r.cmax.p50 < r.cmax.p95
        assert r.cp_percentiles.shape == (3, r.t_min.size)


def test_the_same_seed_gives_the_same_comparison() -> None:
    a = pk.compare_routes(70.0, 50, seed=7, step_s=60)
    b = pk.compare_routes(70.0, 50, seed=7, step_s=60)
    assert [r.cmax for r in a] == [r.cmax for r in b]
