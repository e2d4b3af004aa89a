"""Domino, 70 kg, 0.5 mg/kg over 40 min: the published-style reference numbers.

The expected values are shared/reference/pk-models.md section 6. The test also
computes them independently (matrix exponential of the ODE system, typed-in
micro-constants), so a wrong table or a wrong engine both fail.
"""

from __future__ import annotations

import numpy as np
import pytest

import ketaflow.pk as pk
from tests.unit.pk._ode import domino_70kg, reference

TIMES_MIN = np.array([5, 10, 20, 30, 40, 41, 42, 45, 50, 60, 90, 120, 180, 240], dtype=float)
CP_TABLE = np.array(
    [155.34, 181.81, 209.58, 226.47, 240.33, 141.11, 115.99, 91.41, 71.12, 55.11, 43.00, 35.83,
     24.93, 17.34]
)  # fmt: skip
CE_TABLE = np.array(
    [136.62, 174.23, 206.25, 224.12, 238.29, 207.22, 167.83, 108.18, 76.82, 56.68, 43.41, 36.17,
     25.16, 17.50]
)  # fmt: skip
TABLE_TOL = 0.006  # the table is rounded to 0.01 ng/mL

REGIMEN = pk.weight_based_infusion(70.0, 0.5, 40.0)


@pytest.fixture(scope="module")
def sim() -> pk.PatientSimulation:
    return pk.simulate("domino", 70.0, REGIMEN, until_min=240, step_s=1, ke0_per_min=0.652)


def test_it_matches_the_table_independently() -> None:
    cp, ce = reference(domino_70kg(0.652), REGIMEN, TIMES_MIN, method="expm")
    np.testing.assert_allclose(cp, CP_TABLE, atol=TABLE_TOL, rtol=0)
    np.testing.assert_allclose(ce, CE_TABLE, atol=TABLE_TOL, rtol=0)


def test_it_matches_the_table(sim: pk.PatientSimulation) -> None:
    idx = np.rint(TIMES_MIN * 60).astype(int)
    np.testing.assert_allclose(sim.cp_ng_per_ml[idx], CP_TABLE, atol=TABLE_TOL, rtol=0)
    np.testing.assert_allclose(sim.ce_ng_per_ml[idx], CE_TABLE, atol=TABLE_TOL, rtol=0)


def test_it_peaks_at_the_end_of_the_infusion(sim: pk.PatientSimulation) -> None:
    assert sim.summary.cmax_ng_per_ml == pytest.approx(240.33, abs=0.005)
    assert sim.summary.tmax_min == pytest.approx(40.0, abs=1e-6)
    assert sim.summary.ce_max_ng_per_ml == pytest.approx(238.30, abs=0.005)
    # Ce peaks about 0.6 s after the stop
    assert sim.summary.ce_tmax_min - 40.0 == pytest.approx(0.6 / 60, abs=0.2 / 60)


def test_it_gives_the_recovery_times(sim: pk.PatientSimulation) -> None:
    assert sim.summary.minutes_to_half_after_end == pytest.approx(1.743, abs=0.001)
    modes = pk.patient_modes("domino", 70.0, ke0_per_min=0.652)
    quarter = pk.minutes_to_fall_below(modes, REGIMEN, 0.25 * sim.summary.cmax_ng_per_ml)
    assert quarter == pytest.approx(15.480, abs=0.001)
    ce_half = pk.minutes_to_fall_below(modes, REGIMEN, 0.5 * sim.summary.ce_max_ng_per_ml, output="ce")
    assert ce_half == pytest.approx(4.13, abs=0.01)


def test_it_derives_ke0_like_opentiva() -> None:
    derived = pk.derive_ke0("domino")
    assert derived.ke0_per_min == pytest.approx(0.652, abs=0.0005)
    assert derived.tpeak_min == 1.0
    assert "peaks 1 min after an IV bolus" in derived.rule


def test_it_gives_the_area_under_the_curve(sim: pk.PatientSimulation) -> None:
    trapezoid = np.trapezoid(sim.cp_ng_per_ml, sim.t_min)
    assert sim.summary.auc_ng_min_per_ml == pytest.approx(trapezoid, rel=1e-6)
