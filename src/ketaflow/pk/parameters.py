"""Individual parameters: scale a model to patients, derive ke0, warn outside range."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.optimize import brentq

from ketaflow.errors import InvalidInput
from ketaflow.pk.catalog import IIV_PARAMETERS, ModelSpec, get_model
from ketaflow.pk.modes import Disposition, FloatArray, convolve_first_order, disposition_modes


class OutsideFittedRangeWarning(UserWarning):
    """The patient lies outside the population the model was fitted on."""


@dataclass(frozen=True)
class Ke0Derivation:
    """How a model's effect-site rate constant was obtained."""

    ke0_per_min: float
    tpeak_min: float
    rule: str
    weight_kg: float


def as_weights(weight_kg: float | FloatArray) -> FloatArray:
    """Return weights as a 1-D float array; raise InvalidInput if any is not positive."""
    w = np.atleast_1d(np.asarray(weight_kg, dtype=np.float64))
    if w.ndim != 1 or w.size == 0:
        raise InvalidInput("Give at least one body weight.")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise InvalidInput("Body weight must be greater than zero.")
    return w


def clearance_form(
    spec: ModelSpec, weight_kg: FloatArray, eta: dict[str, FloatArray] | None = None
) -> dict[str, FloatArray]:
    """Return V1..V3 (L) and CL, Q2, Q3 (L/min) for each patient.

    ``eta`` holds per-patient log-deviations: parameter = typical * exp(eta).
    """
    rel = weight_kg / spec.ref_weight_kg
    v_scale, cl_scale = rel**spec.volume_exponent, rel**spec.clearance_exponent
    typical = {
        "v1": spec.v1_l * v_scale,
        "v2": spec.v2_l * v_scale,
        "v3": spec.v3_l * v_scale,
        "cl": spec.cl_l_per_min * cl_scale,
        "q2": spec.q2_l_per_min * cl_scale,
        "q3": spec.q3_l_per_min * cl_scale,
    }
    if eta:
        for key, dev in eta.items():
            typical[key] = typical[key] * np.exp(dev)
    return typical


def disposition(
    spec: ModelSpec,
    weight_kg: float | FloatArray,
    *,
    ke0_per_min: float | None = None,
    eta: dict[str, FloatArray] | None = None,
) -> Disposition:
    """Return the micro-constants of a batch of patients of the given weights.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    weight_kg : float or ndarray
        Body weight of each patient.
    ke0_per_min : float, optional
        Override the derived effect-site rate constant.
    eta : dict of ndarray, optional
        Log-normal deviations for ``v1, v2, v3, cl, q2, q3``.
    """
    w = as_weights(weight_kg)
    p = clearance_form(spec, w, eta)
    zero = np.zeros_like(w)
    n = spec.compartments
    ke0 = derive_ke0(spec.name).ke0_per_min if ke0_per_min is None else ke0_per_min
    if not ke0 > 0:
        raise InvalidInput("ke0 must be greater than zero.")
    return Disposition(
        compartments=n,
        v1_l=p["v1"],
        k10_per_min=p["cl"] / p["v1"],
        k12_per_min=p["q2"] / p["v1"] if n >= 2 else zero,
        k13_per_min=p["q3"] / p["v1"] if n == 3 else zero,
        k21_per_min=p["q2"] / p["v2"] if n >= 2 else zero,
        k31_per_min=p["q3"] / p["v3"] if n == 3 else zero,
        ke0_per_min=np.full_like(w, ke0),
    )


def effect_peak_time_min(d: Disposition) -> float:
    """Return the time (min) at which Ce peaks after an IV bolus (first patient)."""
    lam, a = disposition_modes(d)
    rates, coef = convolve_first_order(lam, a, d.ke0_per_min)
    r, c = rates[0], coef[0]

    def slope(t: float) -> float:
        return float(-(c * r * np.exp(-r * t)).sum())

    hi = 1e-3
    while slope(hi) > 0:
        hi *= 2.0
        if hi > 1e5:
            raise InvalidInput("The effect-site concentration never peaks.")
    return float(brentq(slope, 1e-9, hi, xtol=1e-12, rtol=1e-12))


@cache
def derive_ke0(model_name: str) -> Ke0Derivation:
    """Derive ke0 (1/min) for a model by its time-to-peak-effect rule.

    ke0 is the value for which the effect-site concentration peaks
    ``spec.ke0_tpeak_min`` after an instantaneous IV bolus, for a patient of the
    model's reference weight. The time to peak falls monotonically as ke0 rises, so
    the root is unique.

    References
    ----------
    .. [1] Minto CF, Schnider TW, Gregg KM, Henthorn TK, Shafer SL. Using the time of
       maximum effect site concentration to combine pharmacokinetics and
       pharmacodynamics. Anesthesiology 2003;99(2):324-333.
       doi:10.1097/00000542-200308000-00014
    """
    spec = get_model(model_name)
    target = spec.ke0_tpeak_min

    def gap(log_ke0: float) -> float:
        d = disposition(spec, spec.ref_weight_kg, ke0_per_min=float(np.exp(log_ke0)))
        return effect_peak_time_min(d) - target

    log_ke0 = brentq(gap, np.log(1e-3), np.log(1e3), xtol=1e-13, rtol=1e-13)
    return Ke0Derivation(
        ke0_per_min=float(np.exp(log_ke0)),
        tpeak_min=target,
        rule=spec.ke0_rule,
        weight_kg=spec.ref_weight_kg,
    )


def check_fitted_range(spec: ModelSpec, weight_kg: float, age_yr: float | None = None) -> list[str]:
    """Warn (never fail) when the patient lies outside the model's fitted range.

    Returns the warning sentences (empty if none) and also issues each one as an
    :class:`OutsideFittedRangeWarning`.
    """
    if age_yr is not None and not (np.isfinite(age_yr) and age_yr >= 0):
        raise InvalidInput("Age must be a number of years, 0 or more.")
    problems = spec.fitted_range.violations(weight_kg, age_yr)
    messages = [
        f"Patient outside the fitted range of model '{spec.name}' "
        f"({spec.fitted_range.population}): {p}; predictions are extrapolated."
        for p in problems
    ]
    for message in messages:
        warnings.warn(message, OutsideFittedRangeWarning, stacklevel=2)
    return messages


def sample_eta(spec: ModelSpec, n_patients: int, rng: np.random.Generator) -> dict[str, FloatArray]:
    """Draw independent log-normal deviations for the model's IIV parameters."""
    return {key: rng.normal(0.0, spec.omega[key], n_patients) for key in IIV_PARAMETERS if key in spec.omega}
