"""The semigroup grid evaluator equals the direct closed form."""

from __future__ import annotations

import numpy as np
import pytest

import ketaflow.pk as pk
from ketaflow.errors import InvalidInput
from ketaflow.pk import Bolus, ExtravascularDose, Infusion, Regimen
from ketaflow.pk.grid import grid_simulation, on_grid
from ketaflow.pk.population import population_modes

REGIMEN = Regimen(
    boluses=(Bolus(0.0, 5.0), Bolus(70.0, 3.0)),
    infusions=(Infusion(0.0, 40.0, 0.875), Infusion(20.0, 30.0, 0.2), Infusion(95.0, 300.0, 0.1)),
    extravascular=(ExtravascularDose(10.0, 25.0, "intranasal"),),
)


@pytest.mark.parametrize("step_s", [1.0, 10.0, 60.0])
def test_it_equals_the_direct_closed_form(step_s: float) -> None:
    modes, w = population_modes("kamp2020", 50, seed=3, routes=("intranasal",))
    dt = step_s / 60
    n = int(round(240 / dt)) + 1
    t = np.arange(n) * dt
    g = grid_simulation(modes, REGIMEN, dt, n, dose_scale=w / 70, threshold_ng_per_ml=50.0)
    direct = pk.concentrations(modes, REGIMEN, t, dose_scale=w / 70)
    for o in ("cp", "ce"):
        np.testing.assert_allclose(g.conc[o], direct[o], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(g.peak[o], direct[o].max(axis=1), rtol=1e-12)
    assert g.points_above is not None
    np.testing.assert_array_equal(g.points_above, (direct["cp"] >= 50.0).sum(axis=1))


def test_it_gives_the_same_answer_with_one_or_two_threads() -> None:
    modes, w = population_modes("domino", 300, seed=5)
    reg = pk.weight_based_infusion(1.0, 0.5, 40.0)
    one = pk.concentrations_on_grid(modes, reg, 1 / 60, 3000, dose_scale=w, workers=1)
    two = pk.concentrations_on_grid(modes, reg, 1 / 60, 3000, dose_scale=w, workers=2)
    np.testing.assert_array_equal(one["cp"], two["cp"])


def test_it_refuses_events_off_the_grid() -> None:
    reg = Regimen(infusions=(Infusion(0.0, 40.005, 1.0),))
    assert not on_grid(reg, 1 / 60)
    modes = pk.patient_modes("domino", 70.0)
    with pytest.raises(InvalidInput, match="grid"):
        pk.concentrations_on_grid(modes, reg, 1 / 60, 100)


def test_simulate_falls_back_to_the_direct_form_off_the_grid() -> None:
    reg = Regimen(infusions=(Infusion(0.0, 40.005, 0.875),))
    sim = pk.simulate("domino", 70.0, reg, until_min=60, step_s=1)
    direct = pk.concentrations(pk.patient_modes("domino", 70.0), reg, sim.t_min)
    np.testing.assert_allclose(sim.cp_ng_per_ml, direct["cp"][0], rtol=1e-12)
