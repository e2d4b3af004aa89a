"""Cross-check against opentiva's ketamine models, the only other implementation we test against.

opentiva 1.1.2 needs Cython (and wheel) installed first and
``pip install --no-build-isolation opentiva==1.1.2`` on Python 3.11 (the README's test
command does this). Without it these tests are skipped with the reason shown, except under
CI=true, where they fail with that sentence: the cross-check must run in CI.
Tolerances: Cp within 1e-9 relative (both are exact closed forms); Ce within 0.5 %
of its peak for t >= 60 s, because opentiva's per-second Ce recursion holds Ce at 0
for the first second (see shared/reference/pk-models.md section 1); ke0 within
0.5 % of opentiva's rounded value.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

import ketaflow.pk as pk
from tests.ci_mode import missing

Opentiva = tuple[ModuleType, ModuleType]  # opentiva.ketamine and opentiva.pump
NOT_INSTALLED = (
    "opentiva is not installed, so the PK engine's cross-check against it cannot run; install it "
    "with `.venv/bin/pip install Cython wheel && .venv/bin/pip install --no-build-isolation "
    "opentiva==1.1.2` (needs a C compiler)."
)

SHARED = {
    "domino": "Domino",
    "kamp2020": "Klamp",
    "clements1981": "Clements250",
    "hornik2018": "Hornik",
}


@pytest.fixture(scope="module")
def opentiva() -> Opentiva:
    """opentiva's ketamine models and pump; skipped without it, failed without it under CI=true."""
    try:
        from opentiva import ketamine, pump
    except ImportError:
        missing(NOT_INSTALLED)
    return ketamine, pump


def run_opentiva(opentiva: Opentiva, cls_name: str, weight_kg: float, age: float, ke0: float) -> np.ndarray:
    ketamine, pump = opentiva
    model = getattr(ketamine, cls_name)(0, age, weight_kg, 170)
    model.ke0 = ke0
    p = pump.Pump(model, 10, 14401)
    p.add_infusion(0, 0.5 * weight_kg / 2400, 2400)  # mg per second for 2400 s
    return np.asarray(p.run())


@pytest.mark.parametrize("weight_kg", [55.0, 70.0, 110.0])
@pytest.mark.parametrize("model", sorted(SHARED))
def test_it_agrees_with_opentiva(opentiva: Opentiva, model: str, weight_kg: float) -> None:
    ke0 = pk.derive_ke0(model).ke0_per_min
    age = 12.0 if model == "hornik2018" else 40.0
    ref = run_opentiva(opentiva, SHARED[model], weight_kg, age, ke0)
    regimen = pk.weight_based_infusion(weight_kg, 0.5, 40.0)
    sim = pk.simulate(model, weight_kg, regimen, until_min=14400 / 60, step_s=1)
    cp_ref = ref[:, 1] * 1000.0  # opentiva reports micrograms per mL
    ce_ref = ref[:, 2] * 1000.0
    n = cp_ref.size
    mask = cp_ref > 0
    np.testing.assert_allclose(sim.cp_ng_per_ml[:n][mask], cp_ref[mask], rtol=1e-9)
    late = slice(60, n)
    err = np.abs(sim.ce_ng_per_ml[:n][late] - ce_ref[late]).max()
    assert err <= 0.005 * ce_ref.max()


@pytest.mark.parametrize("model", ["domino", "kamp2020", "clements1981"])
def test_the_derived_ke0_matches_opentiva(opentiva: Opentiva, model: str) -> None:
    ketamine, _ = opentiva
    ot = getattr(ketamine, SHARED[model])(0, 40, 70, 170)
    assert pk.derive_ke0(model).ke0_per_min == pytest.approx(ot.ke0, rel=5e-3)
