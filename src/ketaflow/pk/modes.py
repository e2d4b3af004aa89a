r"""Exponential modes of the compartmental model: the heart of the exact solution.

Every concentration the engine returns is a sum of exponentials. For each patient
and each input (the IV line, or the depot of an extravascular route) the unit
impulse response of an output (plasma, effect site) is

.. math:: h(t) = \sum_m c_m e^{-r_m t}

with rates :math:`r_m` in 1/min and coefficients :math:`c_m` in (ng/mL) per mg.

* The disposition rates are the eigenvalues of the mammillary rate matrix. The
  matrix is made symmetric by the similarity transform with the square roots of the
  compartment volumes, :math:`S_{1j} = S_{j1} = \sqrt{k_{1j} k_{j1}}`, so the
  eigenvalues are real and ``numpy.linalg.eigh`` finds them, batched over patients,
  to machine precision. The plasma coefficient of mode *i* is :math:`v_{1i}^2 / V_1`
  (*v* the orthonormal eigenvectors), which stays correct for repeated eigenvalues.
* A first-order step in series (effect site with ``ke0``, absorption with ``ka``)
  multiplies the transfer function by :math:`k/(s + k)`; in the time domain each
  coefficient becomes :math:`c_i k / (k - r_i)` and a new mode at rate *k* gets
  :math:`-\sum_i c_i k / (k - r_i)`.
* That formula is singular when *k* equals an existing rate (ke0 equal to an
  eigenvalue, ka equal to ke0, ...). We then move *k* by a relative
  :data:`SEPARATION` (1e-6). The solution depends smoothly on *k*, so the change in
  concentration is of order 1e-6 relative, and the cancellation between the two
  nearly equal modes costs about eps/1e-6, about 1e-10 relative: both far below the
  0.1 % accuracy target, and no division by zero.

References
----------
.. [1] Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982
   (sums of exponentials for mammillary models).
.. [2] Shafer SL, Gregg KM. Algorithms to rapidly achieve and maintain stable drug
   concentrations at the site of drug effect with a computer-controlled infusion
   pump. J Pharmacokinet Biopharm 1992;20(2):147-169. doi:10.1007/BF01070999
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating[Any]]

#: Minimum relative gap enforced between a first-order rate and the existing modes.
SEPARATION = 1e-6

#: mg per L is microgram per mL; the engine reports ng/mL.
NG_PER_ML_PER_MG_PER_L = 1000.0


@dataclass(frozen=True)
class Disposition:
    """Per-patient micro-constants, all arrays of shape (n_patients,).

    Rate constants in 1/min, ``v1_l`` in litres. Absent compartments have zero rate
    constants.
    """

    compartments: int
    v1_l: FloatArray
    k10_per_min: FloatArray
    k12_per_min: FloatArray
    k13_per_min: FloatArray
    k21_per_min: FloatArray
    k31_per_min: FloatArray
    ke0_per_min: FloatArray

    @property
    def n_patients(self) -> int:
        """Number of patients in the batch."""
        return int(self.v1_l.shape[0])


@dataclass(frozen=True)
class Absorption:
    """Per-patient bioavailability (fraction) and absorption rate (1/min) of a route."""

    route: str
    f: FloatArray
    ka_per_min: FloatArray


@dataclass(frozen=True)
class ModeSet:
    """Union of all modes of a batch, and the coefficients of each input and output.

    ``rates`` has shape (n_patients, n_modes). ``coef[(input, output)]`` has the same
    shape, zero for modes that input does not excite; ``input`` is ``"iv"`` or a
    route name, ``output`` is ``"cp"`` or ``"ce"``.
    """

    rates: FloatArray
    coef: dict[tuple[str, str], FloatArray]

    @property
    def n_modes(self) -> int:
        """Number of exponential modes."""
        return int(self.rates.shape[1])


def disposition_modes(d: Disposition) -> tuple[FloatArray, FloatArray]:
    """Return the disposition rates (1/min) and plasma coefficients ((ng/mL)/mg).

    Parameters
    ----------
    d : Disposition
        Micro-constants of a batch of patients.

    Returns
    -------
    rates, coef : ndarray, shape (n_patients, compartments)
        Eigenvalues (ascending) and the unit-bolus plasma coefficients.
    """
    n = d.compartments
    s = np.zeros((d.n_patients, n, n))
    s[:, 0, 0] = d.k10_per_min + d.k12_per_min + d.k13_per_min
    if n >= 2:
        s[:, 1, 1] = d.k21_per_min
        s[:, 0, 1] = s[:, 1, 0] = -np.sqrt(d.k12_per_min * d.k21_per_min)
    if n == 3:
        s[:, 2, 2] = d.k31_per_min
        s[:, 0, 2] = s[:, 2, 0] = -np.sqrt(d.k13_per_min * d.k31_per_min)
    rates, vectors = np.linalg.eigh(s)
    coef = vectors[:, 0, :] ** 2 * (NG_PER_ML_PER_MG_PER_L / d.v1_l[:, None])
    return rates, coef


def separate(k: FloatArray, fixed: FloatArray) -> FloatArray:
    """Move each rate ``k`` (n,) away from every rate in ``fixed`` (n, m).

    A rate closer than :data:`SEPARATION` (relative) to a fixed rate is set to that
    rate times ``1 + 2 * SEPARATION``. Two passes cover a move onto a third rate.
    """
    out = np.array(k, dtype=np.float64, copy=True)
    for _ in range(2):
        for j in range(fixed.shape[1]):
            r = fixed[:, j]
            close = np.abs(out - r) <= SEPARATION * np.maximum(out, r)
            out = np.where(close, r * (1.0 + 2.0 * SEPARATION), out)
    return out


def convolve_first_order(rates: FloatArray, coef: FloatArray, k: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Pass a sum of exponentials through a first-order step ``k / (s + k)``.

    Parameters
    ----------
    rates, coef : ndarray, shape (n, m)
        The input impulse response.
    k : ndarray, shape (n,)
        Rate of the step in 1/min; must already be separated from ``rates``.

    Returns
    -------
    rates, coef : ndarray, shape (n, m + 1)
        The output impulse response, with the new mode last.
    """
    factor = k[:, None] / (k[:, None] - rates)
    new = coef * factor
    return (
        np.concatenate([rates, k[:, None]], axis=1),
        np.concatenate([new, -new.sum(axis=1, keepdims=True)], axis=1),
    )


def build_modes(d: Disposition, absorptions: tuple[Absorption, ...] = ()) -> ModeSet:
    """Assemble the modes of a batch for IV input and each extravascular route.

    The mode order is: disposition eigenvalues, ke0, then one absorption rate per
    route in the order given.
    """
    lam, a = disposition_modes(d)
    n_p, n = lam.shape
    ke0 = separate(d.ke0_per_min, lam)
    fixed = np.concatenate([lam, ke0[:, None]], axis=1)
    kas = [separate(ab.ka_per_min, fixed) for ab in absorptions]
    rates = np.concatenate([fixed, *[ka[:, None] for ka in kas]], axis=1)
    m = rates.shape[1]

    def embed(cols: list[int], values: FloatArray) -> FloatArray:
        full = np.zeros((n_p, m))
        full[:, cols] = values
        return full

    disp_cols = list(range(n))
    _, ce_iv = convolve_first_order(lam, a, ke0)
    coef = {
        ("iv", "cp"): embed(disp_cols, a),
        ("iv", "ce"): embed([*disp_cols, n], ce_iv),
    }
    for i, (ab, ka) in enumerate(zip(absorptions, kas, strict=True)):
        col = n + 1 + i
        r_cp, c_cp = convolve_first_order(lam, a * ab.f[:, None], ka)
        _, c_ce = convolve_first_order(r_cp, c_cp, ke0)
        coef[(ab.route, "cp")] = embed([*disp_cols, col], c_cp)
        coef[(ab.route, "ce")] = embed([*disp_cols, col, n], c_ce)
    return ModeSet(rates=rates, coef=coef)
