"""One patient: the curves and the summary a nurse or the web chart needs.

Typical use by the web app during an infusion::

    regimen = regimen_from_events(charted_pump_events, now_min=minutes_since_start)
    sim = simulate("kamp2020", weight_kg=82, regimen=regimen, until_min=240)
    sim.cp_ng_per_ml, sim.ce_ng_per_ml, sim.summary.minutes_to_recovery_after_end
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ketaflow.errors import InvalidInput
from ketaflow.pk.catalog import get_model, get_route
from ketaflow.pk.grid import concentrations_on_grid, on_grid
from ketaflow.pk.modes import Absorption, FloatArray, ModeSet, build_modes
from ketaflow.pk.parameters import check_fitted_range, derive_ke0, disposition
from ketaflow.pk.readouts import concentration_now, minutes_to_fall_below, peak
from ketaflow.pk.regimen import Regimen
from ketaflow.pk.solve import auc_exact, concentrations

#: The default recovery level: Cp falling below half its peak.
HALF = 0.5


@dataclass(frozen=True)
class Summary:
    """Read-outs of one simulated patient (concentrations in ng/mL, times in min)."""

    cmax_ng_per_ml: float
    tmax_min: float
    ce_max_ng_per_ml: float
    ce_tmax_min: float
    auc_ng_min_per_ml: float
    end_of_dosing_min: float
    cp_at_end_ng_per_ml: float
    minutes_to_half_after_end: float | None
    recovery_level_ng_per_ml: float | None
    minutes_to_recovery_after_end: float | None


@dataclass(frozen=True)
class PatientSimulation:
    """Curves and summary of one patient."""

    model: str
    weight_kg: float
    ke0_per_min: float
    t_min: FloatArray
    cp_ng_per_ml: FloatArray
    ce_ng_per_ml: FloatArray
    summary: Summary
    warnings: tuple[str, ...]


def patient_modes(
    model: str,
    weight_kg: float,
    routes: tuple[str, ...] = (),
    *,
    ke0_per_min: float | None = None,
) -> ModeSet:
    """Return the modes of one typical patient, with typical F and ka per route."""
    spec = get_model(model)
    d = disposition(spec, weight_kg, ke0_per_min=ke0_per_min)
    absorptions = []
    for name in routes:
        route = get_route(name)
        if not route.extravascular:
            raise InvalidInput(f"Route '{name}' is not extravascular.")
        absorptions.append(Absorption(name, np.array([route.f_typ]), np.array([route.ka_typ_per_min])))
    return build_modes(d, tuple(absorptions))


def time_grid(until_min: float, step_s: float) -> tuple[float, int]:
    """Return (step in minutes, number of points) of the grid 0..until_min."""
    if not (math.isfinite(until_min) and until_min > 0):
        raise InvalidInput("The simulation length must be greater than zero.")
    if not (math.isfinite(step_s) and step_s > 0):
        raise InvalidInput("The time step must be greater than zero.")
    dt_min = step_s / 60.0
    n = math.floor(until_min / dt_min + 1e-9) + 1
    if n > 5_000_000:
        raise InvalidInput("The time grid is too fine for this length; use a larger step.")
    return dt_min, n


def simulate(
    model: str,
    weight_kg: float,
    regimen: Regimen,
    *,
    until_min: float,
    step_s: float = 1.0,
    age_yr: float | None = None,
    ke0_per_min: float | None = None,
    recovery_level_ng_per_ml: float | None = None,
) -> PatientSimulation:
    """Simulate one typical patient of the model on the grid 0, step, ..., until_min.

    Parameters
    ----------
    model : str
        Model name (see ``ketaflow.pk.list_models``).
    weight_kg : float
        Body weight.
    regimen : Regimen
        What was given (times in minutes from the grid origin).
    until_min, step_s : float
        Length of the simulated window and grid step.
    age_yr : float, optional
        Used only to check the model's fitted range.
    ke0_per_min : float, optional
        Override the derived effect-site rate constant.
    recovery_level_ng_per_ml : float, optional
        Also report when Cp falls below this level after dosing ends.

    Returns
    -------
    PatientSimulation
        The warnings tuple lists any extrapolation beyond the fitted range; each is
        also issued as an ``OutsideFittedRangeWarning``.
    """
    spec = get_model(model)
    range_messages = check_fitted_range(spec, float(weight_kg), age_yr)
    ke0 = derive_ke0(spec.name).ke0_per_min if ke0_per_min is None else ke0_per_min
    modes = patient_modes(spec.name, weight_kg, regimen.routes, ke0_per_min=ke0)
    dt_min, n = time_grid(until_min, step_s)
    t = np.arange(n) * dt_min
    if on_grid(regimen, dt_min):
        c = concentrations_on_grid(modes, regimen, dt_min, n, workers=1)
    else:
        c = concentrations(modes, regimen, t)
    cp, ce = np.ascontiguousarray(c["cp"][0]), np.ascontiguousarray(c["ce"][0])
    summary = summarise(modes, regimen, t, cp, ce, recovery_level_ng_per_ml)
    return PatientSimulation(
        model=spec.name,
        weight_kg=float(weight_kg),
        ke0_per_min=float(ke0),
        t_min=t,
        cp_ng_per_ml=cp,
        ce_ng_per_ml=ce,
        summary=summary,
        warnings=tuple(range_messages),
    )


def summarise(
    modes: ModeSet,
    regimen: Regimen,
    t_min: FloatArray,
    cp: FloatArray,
    ce: FloatArray,
    recovery_level_ng_per_ml: float | None = None,
) -> Summary:
    """Compute the read-outs of one patient from its gridded curves and exact form."""
    p_cp = peak(modes, regimen, t_min, cp, "cp")
    p_ce = peak(modes, regimen, t_min, ce, "ce")
    end = regimen.end_of_dosing_min
    cp_end, _ = concentration_now(modes, regimen, end)
    auc = float(auc_exact(modes, regimen, float(t_min[-1]))[0]) if t_min[-1] > 0 else 0.0
    half = minutes_to_fall_below(modes, regimen, HALF * p_cp.conc_ng_per_ml)
    recovery = None
    if recovery_level_ng_per_ml is not None:
        recovery = minutes_to_fall_below(modes, regimen, recovery_level_ng_per_ml)
    return Summary(
        cmax_ng_per_ml=p_cp.conc_ng_per_ml,
        tmax_min=p_cp.t_min,
        ce_max_ng_per_ml=p_ce.conc_ng_per_ml,
        ce_tmax_min=p_ce.t_min,
        auc_ng_min_per_ml=auc,
        end_of_dosing_min=end,
        cp_at_end_ng_per_ml=cp_end,
        minutes_to_half_after_end=half,
        recovery_level_ng_per_ml=recovery_level_ng_per_ml,
        minutes_to_recovery_after_end=recovery,
    )
