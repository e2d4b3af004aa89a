"""The live chart's curve stays a chart's worth of points, however long ago the infusion began.

An infusion charted days ago asked for a curve from its start to now at 30 s: a million points
for one that began two years before (51 MB of JSON, 12 s per request). With ``max_points`` the
step widens, in whole multiples of the asked step, so the curve has at most that many points;
a window that fits keeps the asked step exactly. Every point is still the exact closed form:
checked here against the SciPy ODE integration of the Domino 70 kg model (tests/unit/pk/_ode.py),
tolerance 1e-6 relative as in the ODE agreement tests (plus 1e-9 ng/mL absolute for the
levels that have decayed to nothing); over three days, against its exact matrix-exponential
propagation instead, since the ODE solver's own error grows over days of slow decay.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import ketaflow.pk as pk
from ketaflow.pk import Infusion, PumpEvent
from ketaflow.pk import PumpEventKind as K
from tests.unit.pk._ode import domino_70kg, reference

RATE = 0.875  # mg/min: 35 mg over 40 min (0.5 mg/kg, 70 kg)
MAX_POINTS = 1441  # 12 h at 30 s


def _agrees_with_the_ode(
    live: pk.LivePrediction, regimen: pk.Regimen, every: int, method: str = "ode"
) -> None:
    sim = live.simulation
    t = sim.t_min[::every]
    ref_cp, ref_ce = reference(domino_70kg(sim.ke0_per_min), regimen, t, method=method)
    np.testing.assert_allclose(sim.cp_ng_per_ml[::every], ref_cp, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sim.ce_ng_per_ml[::every], ref_ce, rtol=1e-6, atol=1e-9)


def test_an_infusion_begun_days_ago_gives_a_bounded_curve_that_is_still_exact() -> None:
    events = [PumpEvent(0.0, K.START, RATE), PumpEvent(40.0, K.STOP)]
    now = 3 * 24 * 60.0
    live = pk.predict_live(
        "domino", 70.0, events, now_min=now, until_min=now + 60, step_s=30.0, max_points=MAX_POINTS
    )
    t = live.simulation.t_min
    assert len(t) <= MAX_POINTS
    assert t[0] == 0.0 and t[-1] <= now + 60 and t[-1] > now + 60 - (t[1] - t[0])
    step_s = (t[1] - t[0]) * 60
    assert step_s / 30.0 == pytest.approx(round(step_s / 30.0), abs=1e-9)  # whole multiples of 30 s
    np.testing.assert_allclose(np.diff(t), t[1] - t[0], rtol=1e-9)
    # Three days of slow decay: the exact matrix-exponential propagation, not the ODE solver.
    _agrees_with_the_ode(live, pk.Regimen(infusions=(Infusion(0.0, 40.0, RATE),)), every=7, method="expm")


def test_a_window_that_fits_keeps_the_asked_step_and_the_same_curve() -> None:
    events = [PumpEvent(0.0, K.START, RATE), PumpEvent(10.0, K.PAUSE), PumpEvent(13.0, K.RESUME)]
    kwargs = {"now_min": 20.0, "planned_end_min": 43.0, "until_min": 240.0, "step_s": 30.0}
    bounded = pk.predict_live("domino", 70.0, events, max_points=MAX_POINTS, **kwargs)
    plain = pk.predict_live("domino", 70.0, events, **kwargs)
    assert len(bounded.simulation.t_min) == 481
    np.testing.assert_array_equal(bounded.simulation.t_min, plain.simulation.t_min)
    np.testing.assert_array_equal(bounded.simulation.cp_ng_per_ml, plain.simulation.cp_ng_per_ml)
    np.testing.assert_array_equal(bounded.simulation.ce_ng_per_ml, plain.simulation.ce_ng_per_ml)


def test_twenty_pump_events_off_the_grid_over_two_hours_follow_the_ode() -> None:
    rng = random.Random(20)
    # start, then (rate change, pause, resume) six times and a last pause: 20 events in 2 h,
    # each at a time off the 30 s grid.
    kinds = [K.RATE_CHANGE, K.PAUSE, K.RESUME] * 6 + [K.PAUSE]
    events, segments = [PumpEvent(0.0, K.START, RATE)], []
    t, since, rate = 0.0, 0.0, RATE
    for i, kind in enumerate(kinds):
        t += 5.0 + rng.random()
        if kind is K.RESUME:
            since = t
            events.append(PumpEvent(t, kind))
            continue
        segments.append(Infusion(since, t, rate))
        since = t
        if kind is K.RATE_CHANGE:
            rate = RATE * (0.6 + 0.2 * (i % 4))
            events.append(PumpEvent(t, kind, rate))
        else:
            events.append(PumpEvent(t, kind))
    assert len(events) == 20 and t < 120.0
    live = pk.predict_live(
        "domino", 70.0, events, now_min=120.0, until_min=240.0, step_s=30.0, max_points=MAX_POINTS
    )
    assert len(live.simulation.t_min) == 481
    assert live.given_mg == pytest.approx(sum(s.dose_mg for s in segments), rel=1e-12)
    _agrees_with_the_ode(live, pk.Regimen(infusions=tuple(segments)), every=3)
