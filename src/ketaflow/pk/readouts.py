"""Clinical read-outs: peak, AUC, concentration now, recovery time, bands."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from ketaflow.errors import InvalidInput
from ketaflow.pk.catalog import ConcentrationBand, concentration_bands
from ketaflow.pk.modes import FloatArray, ModeSet
from ketaflow.pk.regimen import Regimen
from ketaflow.pk.solve import concentrations

#: Search step (min) when looking for the last crossing of a level.
_SCAN_STEP_MIN = 0.25


@dataclass(frozen=True)
class Peak:
    """Maximum of a concentration curve and when it occurs."""

    conc_ng_per_ml: float
    t_min: float


@dataclass(frozen=True)
class Distribution:
    """Summary of a quantity across virtual patients."""

    p5: float
    p50: float
    p95: float
    mean: float
    sd: float
    cv: float

    @staticmethod
    def of(values: FloatArray) -> Distribution:
        """Summarise ``values`` (NaN ignored); CV is SD divided by mean."""
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size == 0:
            nan = math.nan
            return Distribution(nan, nan, nan, nan, nan, nan)
        p5, p50, p95 = np.percentile(v, [5, 50, 95])
        mean, sd = float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
        return Distribution(float(p5), float(p50), float(p95), mean, sd, sd / mean if mean else math.nan)


def _single(modes: ModeSet, regimen: Regimen, output: str = "cp") -> Callable[[float], float]:
    def f(t: float) -> float:
        return float(concentrations(modes, regimen, np.array([t]), outputs=(output,))[output][0, 0])

    return f


def peak(
    modes: ModeSet,
    regimen: Regimen,
    t_grid_min: FloatArray,
    conc_grid: FloatArray,
    output: str = "cp",
) -> Peak:
    """Return the peak of one patient's curve, refined between grid points.

    The grid maximum is refined by bounded minimisation of the exact closed form on
    the two neighbouring grid intervals.
    """
    i = int(np.argmax(conc_grid))
    lo = t_grid_min[max(i - 1, 0)]
    hi = t_grid_min[min(i + 1, t_grid_min.size - 1)]
    best = Peak(float(conc_grid[i]), float(t_grid_min[i]))
    if hi > lo:
        f = _single(modes, regimen, output)
        res = minimize_scalar(lambda t: -f(t), bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
        if -res.fun > best.conc_ng_per_ml:
            best = Peak(float(-res.fun), float(res.x))
    return best


def concentration_now(modes: ModeSet, regimen: Regimen, now_min: float) -> tuple[float, float]:
    """Return (Cp, Ce) in ng/mL at ``now_min`` for a single patient."""
    c = concentrations(modes, regimen, np.array([float(now_min)]))
    return float(c["cp"][0, 0]), float(c["ce"][0, 0])


def minutes_to_fall_below(
    modes: ModeSet,
    regimen: Regimen,
    level_ng_per_ml: float,
    *,
    after_min: float | None = None,
    horizon_min: float = 24 * 60.0,
    output: str = "cp",
) -> float | None:
    """Minutes after ``after_min`` (default: end of dosing) until the curve stays below.

    This is the recovery estimate: the time after the infusion ends at which plasma
    concentration falls, for good, below ``level_ng_per_ml``. Returns 0 if it is
    already below and stays below, and ``None`` if it is still above the level
    ``horizon_min`` minutes later. The crossing is found by root-finding on the
    exact closed form (tolerance 1e-9 min).
    """
    if not level_ng_per_ml > 0:
        raise InvalidInput("The concentration level must be greater than zero.")
    start = regimen.end_of_dosing_min if after_min is None else float(after_min)
    t = start + np.arange(0.0, horizon_min + _SCAN_STEP_MIN, _SCAN_STEP_MIN)
    c = concentrations(modes, regimen, t, outputs=(output,))[output][0]
    above = np.nonzero(c >= level_ng_per_ml)[0]
    if above.size == 0:
        return 0.0
    last = int(above[-1])
    if last == t.size - 1:
        return None
    f = _single(modes, regimen, output)
    root = brentq(lambda x: f(x) - level_ng_per_ml, t[last], t[last + 1], xtol=1e-9)
    return float(root) - start


def bands_containing(conc_ng_per_ml: float) -> list[ConcentrationBand]:
    """Return the literature bands that contain the concentration."""
    return [b for b in concentration_bands() if b.low_ng_per_ml <= conc_ng_per_ml <= b.high_ng_per_ml]
