"""Build engine objects from plain micro-constants, for comparison tests."""

from __future__ import annotations

import numpy as np

from ketaflow.pk import Absorption, Disposition, ModeSet, build_modes
from tests.unit.pk._ode import Micro


def modes_from_micro(
    p: Micro, absorption: dict[str, tuple[float, float]] | None = None, compartments: int = 3
) -> ModeSet:
    """Return the engine's modes for one patient with these micro-constants."""

    def arr(x: float) -> np.ndarray:
        return np.array([x], dtype=np.float64)

    d = Disposition(
        compartments=compartments,
        v1_l=arr(p.v1_l),
        k10_per_min=arr(p.k10),
        k12_per_min=arr(p.k12),
        k13_per_min=arr(p.k13),
        k21_per_min=arr(p.k21),
        k31_per_min=arr(p.k31),
        ke0_per_min=arr(p.ke0),
    )
    absorption = absorption or {}
    abs_ = tuple(Absorption(r, arr(f), arr(ka)) for r, (f, ka) in absorption.items())
    return build_modes(d, abs_)


def relative_error_where_relevant(x: np.ndarray, ref: np.ndarray, floor: float = 0.01) -> float:
    """Max |x - ref| / ref over points where ref exceeds ``floor`` times its peak."""
    mask = ref > floor * ref.max()
    return float(np.max(np.abs(x[mask] - ref[mask]) / ref[mask]))
