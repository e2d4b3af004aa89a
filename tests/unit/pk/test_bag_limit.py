"""A pump stops at its volume to be infused: the live chart never assumes more drug than the bag held.

The reference is the SciPy ODE integration of the Domino 70 kg model (tests/unit/pk/_ode.py),
which knows nothing of pump events or bag limits: it is given the infusion the pump really
delivered (0-40 min at 0.875 mg/min = 35 mg). Tolerance 1e-6 relative, as in the ODE
agreement tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import ketaflow.pk as pk
from ketaflow.pk import Infusion, PumpEvent
from ketaflow.pk import PumpEventKind as K
from tests.unit.pk._ode import domino_70kg, reference

RATE = 0.875  # mg/min: 35 mg over 40 min (0.5 mg/kg, 70 kg)
VTBI_MG = 35.0


def test_segments_are_cut_where_the_bag_runs_out() -> None:
    segments = (Infusion(0.0, 10.0, RATE), Infusion(13.0, 50.0, RATE))  # 47 min at the rate = 41.1 mg
    capped = pk.cap_segments(segments, VTBI_MG)
    assert capped == (Infusion(0.0, 10.0, RATE), Infusion(13.0, 43.0, RATE))
    assert sum(s.dose_mg for s in capped) == pytest.approx(VTBI_MG, rel=1e-12)
    # Below the limit nothing changes; a segment that would start after the bag is empty is dropped.
    assert pk.cap_segments(segments, 100.0) == segments
    assert pk.cap_segments(segments, 8.75) == (Infusion(0.0, 10.0, RATE),)


def test_a_pump_left_running_past_its_end_has_given_the_bag_and_no_more() -> None:
    events = [PumpEvent(0.0, K.START, RATE)]
    live = pk.predict_live(
        "domino", 70.0, events, now_min=45.0, planned_end_min=None, vtbi_mg=VTBI_MG, step_s=30.0
    )
    assert live.given_mg == pytest.approx(VTBI_MG, rel=1e-12)  # 39.4 mg without the limit
    assert live.running is False
    assert live.simulation.summary.end_of_dosing_min == pytest.approx(40.0)
    ref_cp, ref_ce = reference(
        domino_70kg(live.simulation.ke0_per_min),
        pk.Regimen(infusions=(Infusion(0.0, 40.0, RATE),)),
        np.array([0.0, 45.0]),
    )
    assert live.cp_now_ng_per_ml == pytest.approx(ref_cp[-1], rel=1e-6)
    assert live.ce_now_ng_per_ml == pytest.approx(ref_ce[-1], rel=1e-6)


def test_the_forecast_of_a_running_pump_stops_at_the_bag_too() -> None:
    # Paused 3 minutes, so the planned end a careless caller passes (50 min) is past the bag.
    events = [PumpEvent(0.0, K.START, RATE), PumpEvent(10.0, K.PAUSE), PumpEvent(13.0, K.RESUME)]
    live = pk.predict_live(
        "domino", 70.0, events, now_min=20.0, planned_end_min=50.0, vtbi_mg=VTBI_MG, step_s=30.0
    )
    assert live.running is True
    assert live.given_mg == pytest.approx(RATE * 17, rel=1e-12)
    assert live.forecast_end_min == pytest.approx(43.0)
    assert live.simulation.summary.end_of_dosing_min == pytest.approx(43.0)
