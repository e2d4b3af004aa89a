"""Degenerate cases: repeated rates do not blow up and stay accurate.

Compared with the matrix exponential of the ODE system, which has no trouble with
repeated eigenvalues. Tolerance 1e-4 relative (the engine moves a coinciding rate
by 1e-6 relative, see ketaflow.pk.modes.SEPARATION).
"""

from __future__ import annotations

import numpy as np
import pytest

import ketaflow.pk as pk
from ketaflow.pk import ExtravascularDose, Regimen
from ketaflow.pk.modes import disposition_modes
from tests.unit.pk._ode import Micro, domino_70kg, reference
from tests.unit.pk.helpers import modes_from_micro, relative_error_where_relevant

TOL = 1e-4
T = np.linspace(0.0, 240.0, 481)
PROTOCOL = pk.weight_based_infusion(70.0, 0.5, 40.0)


def eigenvalues(p: Micro, n: int = 3) -> np.ndarray:
    d = modes_from_micro(p, compartments=n)
    return d.rates[0, :n]


def check(p: Micro, regimen: Regimen, n: int = 3, absorption=None) -> None:
    modes = modes_from_micro(p, absorption, compartments=n)
    c = pk.concentrations(modes, regimen, T)
    assert np.all(np.isfinite(c["cp"])) and np.all(np.isfinite(c["ce"]))
    ref_cp, ref_ce = reference(p, regimen, T, absorption, method="expm")
    assert relative_error_where_relevant(c["cp"][0], ref_cp) < TOL
    assert relative_error_where_relevant(c["ce"][0], ref_ce) < TOL


@pytest.mark.parametrize("which", [0, 1, 2])
def test_it_handles_ke0_equal_to_an_eigenvalue(which: int) -> None:
    base = domino_70kg()
    lam = eigenvalues(base)
    p = Micro(base.v1_l, base.k10, base.k12, base.k13, base.k21, base.k31, float(lam[which]))
    check(p, PROTOCOL)


def test_it_handles_equal_peripheral_rate_constants() -> None:
    # k21 == k31: one eigenvalue equals k21 exactly and its plasma weight vanishes.
    check(Micro(4.4, 0.4, 0.3, 0.2, 0.1, 0.1, 0.7), PROTOCOL)


def test_it_handles_a_repeated_eigenvalue() -> None:
    # k12 = 0 and k10 = k21: the two-compartment eigenvalues coincide.
    p = Micro(5.0, 0.2, 0.0, 0.0, 0.2, 0.0, 0.2)
    lam, _ = disposition_modes(_disp(p))
    assert lam[0, 0] == pytest.approx(lam[0, 1])
    check(p, PROTOCOL, n=2)


def _disp(p: Micro) -> pk.Disposition:
    a = np.array
    return pk.Disposition(2, a([p.v1_l]), a([p.k10]), a([p.k12]), a([0.0]), a([p.k21]),
                          a([0.0]), a([p.ke0]))  # fmt: skip


def test_it_handles_ka_equal_to_ke0_and_to_an_eigenvalue() -> None:
    base = domino_70kg()
    lam = eigenvalues(base)
    for ka in (base.ke0, float(lam[1])):
        regimen = Regimen(extravascular=(ExtravascularDose(0.0, 40.0, "oral"),))
        check(base, regimen, absorption={"oral": (0.2, ka)})


def test_it_handles_a_one_compartment_model() -> None:
    p = Micro(20.0, 0.05, ke0=0.05)
    check(p, PROTOCOL, n=1)


def test_the_grid_path_handles_ke0_equal_to_an_eigenvalue() -> None:
    base = domino_70kg()
    lam = eigenvalues(base)
    p = Micro(base.v1_l, base.k10, base.k12, base.k13, base.k21, base.k31, float(lam[2]))
    modes = modes_from_micro(p)
    g = pk.concentrations_on_grid(modes, PROTOCOL, 0.5, 481)
    ref_cp, ref_ce = reference(p, PROTOCOL, T, method="expm")
    assert relative_error_where_relevant(g["cp"][0], ref_cp) < TOL
    assert relative_error_where_relevant(g["ce"][0], ref_ce) < TOL
