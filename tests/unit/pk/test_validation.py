"""Bad input is a ValueError with a plain sentence; the engine stays pure."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ketaflow.pk as pk
from ketaflow.errors import InvalidInput
from tests.unit.pk._ode import Micro, reference
from tests.unit.pk.helpers import modes_from_micro, relative_error_where_relevant

REGIMEN = pk.weight_based_infusion(70.0, 0.5, 40.0)


def test_times_must_increase() -> None:
    modes = pk.patient_modes("domino", 70.0)
    with pytest.raises(InvalidInput, match="Times must increase"):
        pk.concentrations(modes, REGIMEN, np.array([0.0, 2.0, 1.0]))
    with pytest.raises(InvalidInput, match="Times must increase"):
        pk.concentrations(modes, REGIMEN, np.array([1.0, 1.0]))


def test_a_route_missing_from_the_modes_is_refused() -> None:
    modes = pk.patient_modes("domino", 70.0)
    oral = pk.Regimen(extravascular=(pk.ExtravascularDose(0.0, 50.0, "oral"),))
    with pytest.raises(InvalidInput, match="without route 'oral'"):
        pk.concentrations(modes, oral, np.array([1.0]))


@pytest.mark.parametrize(
    "call",
    [
        lambda: pk.simulate("domino", 70.0, REGIMEN, until_min=0.0),
        lambda: pk.simulate("domino", 70.0, REGIMEN, until_min=60.0, step_s=-1.0),
        lambda: pk.simulate("domino", float("nan"), REGIMEN, until_min=60.0),
        lambda: pk.simulate("nope", 70.0, REGIMEN, until_min=60.0),
        lambda: pk.patient_modes("domino", 70.0, ("carrier-pigeon",)),
        lambda: pk.minutes_to_fall_below(pk.patient_modes("domino", 70.0), REGIMEN, 0.0),
        lambda: pk.compare_routes(70.0, 1),
        lambda: pk.simulate("domino", 70.0, REGIMEN, until_min=60.0, age_yr=-3.0),
        lambda: pk.simulate("domino", 70.0, REGIMEN, until_min=60.0, age_yr=float("nan")),
        lambda: pk.protocol_population("domino", 10, 0.5, 40.0, until_min=60, threshold_ng_per_ml=0.0),
        lambda: pk.protocol_population("domino", 10, 0.5, 40.0, until_min=60, threshold_ng_per_ml=-1.0),
    ],
)
def test_bad_values_raise_value_errors(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert message.endswith(".") and "\n" not in message


def test_the_engine_imports_no_plotting_and_no_other_layer() -> None:
    code = (
        "import sys, ketaflow.pk; "
        "bad = [m for m in sys.modules if m.startswith(('matplotlib', 'ketaflow.store', "
        "'ketaflow.web', 'ketaflow.services', 'ketaflow.cli', 'sqlalchemy'))]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


rate = st.floats(0.005, 3.0)


@settings(max_examples=30, deadline=None)
@given(
    k10=rate,
    k12=rate,
    k13=rate,
    k21=rate,
    k31=rate,
    ke0_choice=st.sampled_from(["free", "eig0", "eig1", "eig2"]),
    ke0=rate,
    tie=st.booleans(),
)
def test_random_models_agree_with_the_matrix_exponential(
    k10: float,
    k12: float,
    k13: float,
    k21: float,
    k31: float,
    ke0_choice: str,
    ke0: float,
    tie: bool,
) -> None:
    if tie:
        k31 = k21  # a coinciding pair of peripheral rates
    p = Micro(10.0, k10, k12, k13, k21, k31, ke0)
    if ke0_choice != "free":
        lam = modes_from_micro(p).rates[0, :3]
        p = Micro(10.0, k10, k12, k13, k21, k31, float(lam[int(ke0_choice[-1])]))
    t = np.linspace(0.0, 120.0, 41)
    c = pk.concentrations(modes_from_micro(p), REGIMEN, t)
    ref_cp, ref_ce = reference(p, REGIMEN, t, method="expm")
    assert relative_error_where_relevant(c["cp"][0], ref_cp) < 1e-4
    assert relative_error_where_relevant(c["ce"][0], ref_ce) < 1e-4
