r"""Fast exact evaluation on a uniform time grid (the semigroup/matmul method).

Between two dosing events the input is constant, so each mode's contribution obeys

.. math:: y_m(t_k + j\,\Delta t) = w_m + (y_m(t_k) - w_m)\, e^{-r_m j \Delta t},

with :math:`w_m = c_m R / r_m` the steady contribution of rate *R*. Writing
:math:`j = aB + b` factors the exponential, :math:`e^{-r j\Delta t} = e^{-r B a
\Delta t} e^{-r b \Delta t}`, so the whole segment is one batched product of a
(patients, A, modes) table with a (patients, modes, B) table. A constant mode (rate
zero) carries :math:`\sum_m w_m`. The product is written straight into the output.
About (A + B) exponentials per mode and patient replace A * B, and the result is
still the exact closed form (same arithmetic, reordered).

Every event must fall on a grid point; :func:`on_grid` checks that.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ketaflow.errors import InvalidInput
from ketaflow.pk.modes import FloatArray, ModeSet
from ketaflow.pk.regimen import Regimen
from ketaflow.pk.solve import OUTPUTS, as_dose_scale

_GRID_TOL = 1e-9


def _index(t_min: float, dt_min: float) -> int | None:
    x = t_min / dt_min
    k = round(x)
    return int(k) if abs(x - k) <= _GRID_TOL * max(1.0, abs(x)) else None


def on_grid(regimen: Regimen, dt_min: float) -> bool:
    """Return True if every event of the regimen is at a non-negative grid time."""
    times = [b.t_min for b in regimen.boluses] + [e.t_min for e in regimen.extravascular]
    times += [t for i in regimen.infusions for t in (i.start_min, i.end_min)]
    return all(t >= 0 and _index(t, dt_min) is not None for t in times)


def _segments(
    regimen: Regimen, dt_min: float, n_points: int
) -> list[tuple[int, int, float, list[tuple[str, float]]]]:
    """Split [0, n_points) into (start, stop, iv_rate, impulses_at_start) segments."""
    cuts = {0, n_points}
    impulses: dict[int, list[tuple[str, float]]] = {}
    for b in regimen.boluses:
        k = _index(b.t_min, dt_min)
        assert k is not None
        if k < n_points:
            cuts.add(k)
            impulses.setdefault(k, []).append(("iv", b.dose_mg))
    for e in regimen.extravascular:
        k = _index(e.t_min, dt_min)
        assert k is not None
        if k < n_points:
            cuts.add(k)
            impulses.setdefault(k, []).append((e.route, e.dose_mg))
    spans = []
    for inf in regimen.infusions:
        ks, ke = _index(inf.start_min, dt_min), _index(inf.end_min, dt_min)
        assert ks is not None and ke is not None
        spans.append((ks, ke, inf.rate_mg_per_min))
        cuts.update(k for k in (ks, ke) if k < n_points)
    bounds = sorted(cuts)
    out = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        rate = sum(r for ks, ke, r in spans if ks <= start and stop <= ke)
        out.append((start, stop, rate, impulses.get(start, [])))
    return out


#: Patients evaluated together, so that a block's output is still in cache when
#: its peak and time above threshold are taken.
_SUB_BLOCK = 64


@dataclass(frozen=True)
class GridResult:
    """Gridded concentrations and per-patient reductions taken while they were hot.

    ``conc[o]`` has shape (n_patients, n_points) in ng/mL; ``peak[o]`` gives each
    patient's grid maximum and ``peak_index["cp"]`` where Cp reaches it; ``points_above`` counts the grid
    points where Cp is at or above ``threshold_ng_per_ml`` (if one was given);
    ``samples[o]`` keeps every ``sample_every``-th point. With ``keep=False`` the
    full curves are computed block by block into a small reused buffer and only the
    reductions are kept, and ``conc`` is empty.
    """

    conc: dict[str, FloatArray]
    peak: dict[str, FloatArray]
    peak_index: dict[str, NDArray[np.intp]]
    points_above: NDArray[np.intp] | None
    samples: dict[str, FloatArray]
    sample_every: int


def _chunks(n_patients: int, workers: int) -> list[range]:
    blocks = list(range(0, n_patients, _SUB_BLOCK))
    per = math.ceil(len(blocks) / max(1, workers))
    return [range(i, min(i + per, len(blocks))) for i in range(0, len(blocks), per)]


def concentrations_on_grid(
    modes: ModeSet,
    regimen: Regimen,
    dt_min: float,
    n_points: int,
    *,
    dose_scale: FloatArray | None = None,
    outputs: tuple[str, ...] = OUTPUTS,
    block: int | None = None,
    workers: int = 2,
) -> dict[str, FloatArray]:
    """Evaluate Cp and/or Ce at ``t = n * dt_min``; see :func:`grid_simulation`."""
    return grid_simulation(
        modes,
        regimen,
        dt_min,
        n_points,
        dose_scale=dose_scale,
        outputs=outputs,
        block=block,
        workers=workers,
    ).conc


def grid_simulation(
    modes: ModeSet,
    regimen: Regimen,
    dt_min: float,
    n_points: int,
    *,
    dose_scale: FloatArray | None = None,
    outputs: tuple[str, ...] = OUTPUTS,
    block: int | None = None,
    workers: int = 2,
    threshold_ng_per_ml: float | None = None,
    keep: bool = True,
    sample_every: int = 1,
) -> GridResult:
    """Evaluate Cp and/or Ce at ``t = n * dt_min`` for ``n = 0 .. n_points - 1``.

    Parameters
    ----------
    modes : ModeSet
        Modes of the batch of patients.
    regimen : Regimen
        Doses; every event must be on the grid (see :func:`on_grid`).
    dt_min : float
        Grid step in minutes.
    n_points : int
        Number of grid points.
    dose_scale : ndarray, shape (n_patients,), optional
        Multiplies every dose of each patient.
    outputs : tuple of str
        Any of ``"cp"`` and ``"ce"``.
    block : int, optional
        The factor *B*; default about the square root of ``n_points``.
    workers : int
        Threads over blocks of patients (NumPy releases the GIL in matmul).
    threshold_ng_per_ml : float, optional
        Count, per patient, the grid points where Cp is at or above this level.
    keep : bool
        Keep the full (n_patients, n_points) curves; if False, stream them through a
        cache-sized buffer and keep only peaks, counts and samples (much less memory).
    sample_every : int
        Keep every this many grid points in ``samples``.

    Returns
    -------
    GridResult
        Concentrations in ng/mL (views into padded buffers) and reductions.
    """
    if not dt_min > 0 or not math.isfinite(dt_min):
        raise InvalidInput("The time step must be greater than zero.")
    if n_points < 1:
        raise InvalidInput("The grid needs at least one point.")
    if not on_grid(regimen, dt_min):
        raise InvalidInput("Every dosing event must fall on the time grid.")
    for out in outputs:
        if out not in OUTPUTS:
            raise InvalidInput(f"Unknown output '{out}'; use 'cp' or 'ce'.")
    scale = as_dose_scale(modes, dose_scale)
    n_patients = modes.rates.shape[0]
    b_len = block or max(8, math.isqrt(n_points))
    segments = _segments(regimen, dt_min, n_points)
    a_max = max(math.ceil((stop - start) / b_len) for start, stop, _, _ in segments)
    if threshold_ng_per_ml is not None and "cp" not in outputs:
        raise InvalidInput("A threshold needs the 'cp' output.")
    if sample_every < 1:
        raise InvalidInput("The sampling interval must be at least one grid point.")
    width = n_points + b_len
    buffers = {o: np.empty((n_patients if keep else 0, width)) for o in outputs}
    n_samples = len(range(0, n_points, sample_every))
    samples: dict[str, FloatArray] = {o: np.empty((n_patients, n_samples)) for o in outputs}

    peaks: dict[str, FloatArray] = {o: np.empty(n_patients) for o in outputs}
    peak_index = {o: np.empty(n_patients, dtype=np.intp) for o in outputs if o == "cp"}
    above = None if threshold_ng_per_ml is None else np.empty(n_patients, dtype=np.intp)

    # Only the modes an output actually uses (e.g. Cp after IV dosing has no ke0 mode).
    inputs = (["iv"] if regimen.boluses or regimen.infusions else []) + list(regimen.routes)
    cols = {
        o: np.flatnonzero(np.any([np.any(modes.coef[(i, o)] != 0, axis=0) for i in inputs], axis=0))
        for o in outputs
    }

    def run_block(rows: slice, bufs: dict[str, FloatArray]) -> None:
        r_all = modes.rates[rows]
        n = r_all.shape[0]
        s = scale[rows, None]
        for o in outputs:
            c = cols[o]
            k = c.size
            r = r_all[:, c]
            # Right table: e^{-r b dt} plus a constant row of ones.
            right = np.ones((n, k + 1, b_len))
            right[:, :k, :] = np.exp(-r[:, :, None] * (dt_min * np.arange(b_len)))
            big = np.exp(-r[:, None, :] * (dt_min * b_len * np.arange(a_max))[None, :, None])
            left = np.empty((n, a_max, k + 1))
            y = np.zeros((n, k))
            c_iv = modes.coef[("iv", o)][rows][:, c]
            for start, stop, rate, impulses in segments:
                length = stop - start
                n_a = math.ceil(length / b_len)
                for route, dose in impulses:
                    y += modes.coef[(route, o)][rows][:, c] * (dose * s)
                w = c_iv * (rate * s) / r
                d = y - w
                left[:, :n_a, :k] = d[:, None, :] * big[:, :n_a, :]
                left[:, :n_a, k] = w.sum(axis=1)[:, None]
                target = bufs[o][:, start : start + n_a * b_len].reshape(n, n_a, b_len)
                if not np.may_share_memory(target, bufs[o]):  # pragma: no cover
                    raise RuntimeError("grid output view was copied")
                np.matmul(left[:, :n_a, :], right, out=target)
                y = w + d * np.exp(-r * (dt_min * length))
        for o in outputs:
            conc = bufs[o][:, :n_points]
            samples[o][rows] = conc[:, ::sample_every]
            if o == "cp":
                idx = np.argmax(conc, axis=1)
                peak_index[o][rows] = idx
                peaks[o][rows] = conc[np.arange(n), idx]
            else:  # argmax is three times slower than max; tmax is only needed for Cp
                peaks[o][rows] = conc.max(axis=1)
            if above is not None and threshold_ng_per_ml is not None and o == "cp":
                above[rows] = np.count_nonzero(conc >= threshold_ng_per_ml, axis=1)

    def run(block_ids: range) -> None:
        scratch = {o: np.empty((0 if keep else _SUB_BLOCK, width)) for o in outputs}
        for b in block_ids:
            rows = slice(b * _SUB_BLOCK, min((b + 1) * _SUB_BLOCK, n_patients))
            n = rows.stop - rows.start
            bufs: dict[str, FloatArray] = {o: (buffers[o][rows] if keep else scratch[o][:n]) for o in outputs}
            run_block(rows, bufs)

    chunks = _chunks(n_patients, workers)
    if len(chunks) == 1:
        run(chunks[0])
    else:
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            list(pool.map(run, chunks))
    return GridResult(
        conc={o: buffers[o][:, :n_points] for o in outputs} if keep else {},
        peak=peaks,
        peak_index=peak_index,
        points_above=above,
        samples=samples,
        sample_every=sample_every,
    )
