r"""Exact concentrations at arbitrary times, by superposition of closed forms.

For a mode with rate :math:`r` and coefficient :math:`c` (per mg), a bolus *D* at
:math:`t_b` contributes :math:`D c\, e^{-r (t - t_b)}` for :math:`t \ge t_b`, and a
zero-order infusion at rate *R* on :math:`[t_s, t_e]` contributes

.. math:: \frac{R c}{r}\left[e^{-r \max(t - t_e, 0)} - e^{-r \max(t - t_s, 0)}\right],

evaluated as :math:`-e^{-r a}\,\mathrm{expm1}(-r (b - a))` to keep early-time digits.
No time stepping is involved, so the result is exact to rounding at every *t*.
"""

from __future__ import annotations

import numpy as np

from ketaflow.errors import InvalidInput
from ketaflow.pk.modes import FloatArray, ModeSet
from ketaflow.pk.regimen import Regimen

OUTPUTS = ("cp", "ce")
#: The most values of one (patients, infusions, times) block in `concentrations` (16 MB).
_BLOCK_VALUES = 2_000_000


def as_times(t_min: float | FloatArray) -> FloatArray:
    """Return times as a 1-D float array; raise InvalidInput unless increasing."""
    t = np.atleast_1d(np.asarray(t_min, dtype=np.float64))
    if t.ndim != 1 or t.size == 0:
        raise InvalidInput("Give at least one time point.")
    if not np.all(np.isfinite(t)):
        raise InvalidInput("Times must be finite numbers.")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise InvalidInput("Times must increase.")
    return t


def as_dose_scale(modes: ModeSet, dose_scale: FloatArray | None) -> FloatArray:
    """Return one dose multiplier per patient (ones if none given)."""
    n = modes.rates.shape[0]
    if dose_scale is None:
        return np.ones(n)
    s = np.asarray(dose_scale, dtype=np.float64)
    if s.shape != (n,):
        raise InvalidInput("There must be one dose scale per patient.")
    return s


def concentrations(
    modes: ModeSet,
    regimen: Regimen,
    t_min: float | FloatArray,
    *,
    dose_scale: FloatArray | None = None,
    outputs: tuple[str, ...] = OUTPUTS,
) -> dict[str, FloatArray]:
    """Evaluate Cp and/or Ce (ng/mL) for every patient at every time.

    Parameters
    ----------
    modes : ModeSet
        Modes of the batch; must include every route of the regimen.
    regimen : Regimen
        Doses, in mg, the same for every patient up to ``dose_scale``.
    t_min : array_like, shape (n_times,)
        Increasing times in minutes.
    dose_scale : ndarray, shape (n_patients,), optional
        Multiplies every dose of each patient (for example the body weight when the
        regimen is written per kg).
    outputs : tuple of str
        Any of ``"cp"`` and ``"ce"``.

    Returns
    -------
    dict of str to ndarray, shape (n_patients, n_times)
    """
    t = as_times(t_min)
    scale = as_dose_scale(modes, dose_scale)[:, None]
    for route in regimen.routes:
        if (route, "cp") not in modes.coef:
            raise InvalidInput(f"The modes were built without route '{route}'.")
    result: dict[str, FloatArray] = {}
    n_patients = modes.rates.shape[0]
    # The infusions are taken together, as many at a time as keep a (patients, infusions, times)
    # block under _BLOCK_VALUES: a live chart's twenty pump segments cost one pass, not twenty.
    per_block = max(1, _BLOCK_VALUES // max(1, n_patients * t.size))
    blocks = [
        (
            np.array([i.start_min for i in part])[:, None],
            np.array([i.end_min for i in part])[:, None],
            np.array([i.rate_mg_per_min for i in part])[None, :, None],
        )
        for part in (
            regimen.infusions[k : k + per_block] for k in range(0, len(regimen.infusions), per_block)
        )
    ]
    for out in outputs:
        if out not in OUTPUTS:
            raise InvalidInput(f"Unknown output '{out}'; use 'cp' or 'ce'.")
        total = np.zeros((n_patients, t.size))
        for m in range(modes.n_modes):
            r = modes.rates[:, m : m + 1]
            c_iv = modes.coef[("iv", out)][:, m : m + 1]
            if np.any(c_iv) and (regimen.boluses or regimen.infusions):
                for b in regimen.boluses:
                    total += _impulse(r, c_iv * b.dose_mg, t - b.t_min)
                r3 = r[:, :, None]
                for starts, ends, rates in blocks:
                    a = np.maximum(t - ends, 0.0)  # (infusions, times)
                    span = np.maximum(t - starts, 0.0) - a
                    each = (c_iv[:, :, None] * rates / r3) * (-np.exp(-r3 * a) * np.expm1(-r3 * span))
                    total += each.sum(axis=1)
            for dose in regimen.extravascular:
                c = modes.coef[(dose.route, out)][:, m : m + 1]
                if np.any(c):
                    total += _impulse(r, c * dose.dose_mg, t - dose.t_min)
        result[out] = total * scale
    return result


def _impulse(r: FloatArray, amount: FloatArray, dt: FloatArray) -> FloatArray:
    after = dt >= 0
    return np.where(after, amount * np.exp(-r * np.where(after, dt, 0.0)), 0.0)


def auc_exact(
    modes: ModeSet,
    regimen: Regimen,
    t_end_min: float,
    *,
    t_start_min: float = 0.0,
    dose_scale: FloatArray | None = None,
    output: str = "cp",
) -> FloatArray:
    """Return the exact area under the curve from ``t_start_min`` to ``t_end_min``.

    Units ng*min/mL; one value per patient. Uses the closed-form integral of each
    mode, so no quadrature error.
    """
    if not t_end_min > t_start_min:
        raise InvalidInput("The end of the AUC interval must be after its start.")

    def cumulative(t_end: float) -> FloatArray:
        total = np.zeros(modes.rates.shape[0])
        r = modes.rates
        c_iv = modes.coef[("iv", output)]
        for b in regimen.boluses:
            if b.t_min < t_end:
                total += b.dose_mg * (c_iv * -np.expm1(-r * (t_end - b.t_min)) / r).sum(1)
        for inf in regimen.infusions:
            if inf.start_min < t_end:
                stop = min(inf.end_min, t_end)
                length = stop - inf.start_min
                tail = (np.exp(-r * (t_end - stop)) - np.exp(-r * (t_end - inf.start_min))) / r
                total += inf.rate_mg_per_min * (c_iv / r * (length - tail)).sum(1)
        for dose in regimen.extravascular:
            if dose.t_min < t_end:
                c = modes.coef[(dose.route, output)]
                total += dose.dose_mg * (c * -np.expm1(-r * (t_end - dose.t_min)) / r).sum(1)
        return total

    auc = cumulative(t_end_min) - cumulative(t_start_min)
    return auc * as_dose_scale(modes, dose_scale)
