"""Independent reference solutions: the compartment ODEs, integrated by SciPy.

Nothing here uses the engine's modal decomposition. The model is written as the
textbook amount-based ODE system (depots, central, peripherals, effect site) and
integrated piecewise between dosing events with ``solve_ivp`` at tight tolerances, or
propagated exactly with ``scipy.linalg.expm`` of the augmented matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from ketaflow.pk import Regimen


@dataclass(frozen=True)
class Micro:
    """Micro-constants of one patient (1/min, litres)."""

    v1_l: float
    k10: float
    k12: float = 0.0
    k13: float = 0.0
    k21: float = 0.0
    k31: float = 0.0
    ke0: float = 1.0


def domino_70kg(ke0: float = 0.652) -> Micro:
    """Domino at 70 kg, typed in from shared/reference/pk-models.md section 5."""
    return Micro(0.063 * 70, 0.4381, 0.5921, 0.5900, 0.2470, 0.0146, ke0)


def _matrix(p: Micro, absorption: dict[str, tuple[float, float]]) -> tuple[np.ndarray, list[str]]:
    """Return the system matrix for states [depots..., x1, x2, x3, ce] and depot names."""
    routes = list(absorption)
    nd = len(routes)
    n = nd + 4
    a = np.zeros((n, n))
    c1, c2, c3, ce = nd, nd + 1, nd + 2, nd + 3
    for i, r in enumerate(routes):
        f, ka = absorption[r]
        a[i, i] = -ka
        a[c1, i] = f * ka
    a[c1, c1] = -(p.k10 + p.k12 + p.k13)
    a[c1, c2] = p.k21
    a[c1, c3] = p.k31
    a[c2, c1] = p.k12
    a[c2, c2] = -p.k21
    a[c3, c1] = p.k13
    a[c3, c3] = -p.k31
    # Ce in ng/mL: dCe/dt = ke0 (1000 x1 / V1 - Ce)
    a[ce, c1] = p.ke0 * 1000.0 / p.v1_l
    a[ce, ce] = -p.ke0
    return a, routes


def _events(regimen: Regimen, t_end: float) -> list[float]:
    pts = {0.0, t_end}
    pts.update(b.t_min for b in regimen.boluses)
    pts.update(e.t_min for e in regimen.extravascular)
    for inf in regimen.infusions:
        pts.update((inf.start_min, inf.end_min))
    return sorted(x for x in pts if 0.0 <= x <= t_end)


def _rate(regimen: Regimen, t_mid: float) -> float:
    return sum(i.rate_mg_per_min for i in regimen.infusions if i.start_min <= t_mid < i.end_min)


def reference(
    p: Micro,
    regimen: Regimen,
    t_min: np.ndarray,
    absorption: dict[str, tuple[float, float]] | None = None,
    method: str = "ode",
) -> tuple[np.ndarray, np.ndarray]:
    """Return (Cp, Ce) in ng/mL at the times, by ODE integration or expm stepping."""
    absorption = absorption or {}
    a, routes = _matrix(p, absorption)
    n = a.shape[0]
    c1 = len(routes)
    cp = np.zeros(t_min.size)
    ce = np.zeros(t_min.size)
    state = np.zeros(n)
    bounds = _events(regimen, float(t_min[-1]))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        for b in regimen.boluses:
            if b.t_min == lo:
                state[c1] += b.dose_mg
        for e in regimen.extravascular:
            if e.t_min == lo:
                state[routes.index(e.route)] += e.dose_mg
        u = np.zeros(n)
        u[c1] = _rate(regimen, 0.5 * (lo + hi))
        last = hi == bounds[-1]
        mask = (t_min >= lo) & ((t_min <= hi) if last else (t_min < hi))
        ts = t_min[mask]
        if method == "ode":
            t_eval = ts if ts.size and ts[-1] == hi else np.append(ts, hi)
            sol = solve_ivp(
                lambda _t, x, a=a, u=u: a @ x + u,
                (lo, hi),
                state,
                method="DOP853",
                t_eval=t_eval,
                rtol=1e-11,
                atol=1e-14,
            )
            k = ts.size
            cp[mask] = sol.y[c1, :k] * 1000.0 / p.v1_l
            ce[mask] = sol.y[-1, :k]
            state = sol.y[:, -1]
        else:
            for j, t in zip(np.nonzero(mask)[0], ts, strict=True):
                x = _expm_step(a, u, state, t - lo)
                cp[j] = x[c1] * 1000.0 / p.v1_l
                ce[j] = x[-1]
            state = _expm_step(a, u, state, hi - lo)
    return cp, ce


def _expm_step(a: np.ndarray, u: np.ndarray, x: np.ndarray, dt: float) -> np.ndarray:
    """Exact zero-order-hold step via the augmented matrix exponential."""
    n = a.shape[0]
    aug = np.zeros((n + 1, n + 1))
    aug[:n, :n] = a
    aug[:n, n] = u
    z = expm(aug * dt)
    return z[:n, :n] @ x + z[:n, n]
