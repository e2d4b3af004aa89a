"""The live chart of an infusion in progress: what was given, where the patient is now.

The web app passes the pump events the nurse has charted so far. The curve up to
``now_min`` follows exactly what was given; beyond it, the forecast assumes the pump
keeps running at its current rate until the planned end (if it is running) and then
stops, which is what the nurse needs to answer "when will they be clear?".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ketaflow.errors import InvalidInput
from ketaflow.pk.readouts import concentration_now, minutes_to_fall_below
from ketaflow.pk.regimen import (
    Bolus,
    Infusion,
    PumpEvent,
    PumpEventKind,
    Regimen,
    cap_segments,
    segments_from_events,
)
from ketaflow.pk.simulate import PatientSimulation, patient_modes, simulate


@dataclass(frozen=True)
class LivePrediction:
    """Where the patient is now, and the forecast under the current plan."""

    simulation: PatientSimulation
    now_min: float
    cp_now_ng_per_ml: float
    ce_now_ng_per_ml: float
    running: bool
    given_mg: float
    forecast_end_min: float
    recovery_level_ng_per_ml: float | None
    minutes_until_recovery_from_now: float | None


def _running(events: Sequence[PumpEvent]) -> bool:
    kinds = [PumpEventKind(e.kind) for e in events]
    if not kinds or kinds[-1] in (PumpEventKind.STOP, PumpEventKind.PAUSE):
        return False
    if kinds[-1] is PumpEventKind.RATE_CHANGE:
        # a rate change while paused does not restart the pump
        for k in reversed(kinds[:-1]):
            if k in (PumpEventKind.PAUSE, PumpEventKind.RESUME, PumpEventKind.START):
                return k is not PumpEventKind.PAUSE
    return True


def _widened_step_s(window_min: float, step_s: float, max_points: int) -> float:
    """The smallest whole multiple of ``step_s`` whose grid over the window has <= max_points."""
    if max_points < 2:
        raise InvalidInput("A chart needs at least two points.")
    if not (math.isfinite(window_min) and window_min > 0 and math.isfinite(step_s) and step_s > 0):
        return step_s  # `simulate` says what is wrong with them
    intervals = window_min / (step_s / 60.0)
    return step_s * max(1, math.ceil(intervals / (max_points - 1) - 1e-9))


def predict_live(
    model: str,
    weight_kg: float,
    events: Sequence[PumpEvent],
    *,
    now_min: float,
    planned_end_min: float | None = None,
    until_min: float = 240.0,
    step_s: float = 1.0,
    boluses: Sequence[Bolus] = (),
    age_yr: float | None = None,
    recovery_level_ng_per_ml: float | None = None,
    vtbi_mg: float | None = None,
    max_points: int | None = None,
) -> LivePrediction:
    """Predict Cp and Ce for an infusion charted up to ``now_min``.

    Parameters
    ----------
    model, weight_kg
        Model name and body weight.
    events : sequence of PumpEvent
        Pump events charted so far, times in minutes from the start of the chart.
    now_min : float
        The present time on the same clock.
    planned_end_min : float, optional
        If the pump is running now, the forecast keeps it running at the current
        rate until this time; without it the forecast assumes it stops now.
    until_min, step_s : float
        Chart window and grid step.
    boluses : sequence of Bolus
        Any IV boluses given.
    age_yr : float, optional
        For the fitted-range check.
    recovery_level_ng_per_ml : float, optional
        Report when Cp will fall below this level, counted from now.
    vtbi_mg : float, optional
        What the pump was programmed to deliver (its volume to be infused, in mg). The
        pump stops there, so neither what was given nor the forecast goes past it, and
        a pump that reached it is no longer running.
    max_points : int, optional
        The most points the curve may have. A longer window (an infusion begun days ago,
        whose chart runs to now) is drawn at a wider step, the smallest whole multiple
        of ``step_s`` that fits; a window that fits keeps ``step_s``. Every point is
        still exact; only the read-outs now, given and until recovery never depend on
        the grid.
    """
    charted = segments_from_events(events, now_min=now_min)
    given = charted if vtbi_mg is None else cap_segments(charted, vtbi_mg)
    running = _running(events) and given == charted
    forecast = list(given)
    end = now_min
    if running and planned_end_min is not None and planned_end_min > now_min and given:
        last = given[-1]
        if last.end_min == now_min:
            forecast[-1] = Infusion(last.start_min, planned_end_min, last.rate_mg_per_min)
            if vtbi_mg is not None:
                forecast = list(cap_segments(forecast, vtbi_mg))
            end = forecast[-1].end_min
    if not forecast and not boluses:
        raise InvalidInput("Nothing has been given yet.")
    regimen = Regimen(boluses=tuple(boluses), infusions=tuple(forecast))
    window_min = max(until_min, end)
    if max_points is not None:
        step_s = _widened_step_s(window_min, step_s, max_points)
    sim = simulate(
        model,
        weight_kg,
        regimen,
        until_min=window_min,
        step_s=step_s,
        age_yr=age_yr,
        recovery_level_ng_per_ml=recovery_level_ng_per_ml,
    )
    modes = patient_modes(model, weight_kg, ke0_per_min=sim.ke0_per_min)
    cp_now, ce_now = concentration_now(modes, regimen, now_min)
    until_recovery = None
    if recovery_level_ng_per_ml is not None:
        until_recovery = minutes_to_fall_below(modes, regimen, recovery_level_ng_per_ml, after_min=now_min)
    return LivePrediction(
        simulation=sim,
        now_min=now_min,
        cp_now_ng_per_ml=cp_now,
        ce_now_ng_per_ml=ce_now,
        running=running,
        given_mg=sum(s.dose_mg for s in given) + sum(b.dose_mg for b in boluses),
        forecast_end_min=end,
        recovery_level_ng_per_ml=recovery_level_ng_per_ml,
        minutes_until_recovery_from_now=until_recovery,
    )
