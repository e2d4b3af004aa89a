"""Predicted drug levels for a live infusion, from what the pump actually gave."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

import ketaflow.pk as pk
from ketaflow.errors import InvalidInput
from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.infusion import current_order, load_session, pump_records
from ketaflow.services.permissions import Action
from ketaflow.services.session_state import given_mg

# The model the live chart uses: the default, closest to the pooled evidence (Kamp 2020; see
# pk/data/models.toml). The chart names it so nobody mistakes it for a measurement.
LIVE_MODEL = pk.default_model()
# The chart's grid: every 30 s, 0-240 min or to an hour past now; past 12 hours of window (an
# infusion read days later) the step widens so the curve stays a chart's 1,441 points (the page
# draws it 900 pixels wide) instead of growing with the time since the start.
STEP_S = 30.0
MAX_POINTS = 1441


def live_model_title() -> str:
    """The live chart's model as the page names it (e.g. "Kamp 2020, pooled adult ...")."""
    return pk.get_model(LIVE_MODEL).title


@dataclass(frozen=True)
class Levels:
    model: str
    model_title: str
    t_min: list[float]
    cp_ng_per_ml: list[float]
    ce_ng_per_ml: list[float]
    now_min: float
    cp_now_ng_per_ml: float
    ce_now_ng_per_ml: float
    given_mg: float
    running: bool
    clear_level_ng_per_ml: float
    minutes_until_clear: float | None


def _clear_level() -> float:
    """The plasma level below which the patient is predicted to be past the dissociation.

    The lower edge of the band in which dissociation is reported (100-250 ng/mL,
    Krystal 1994, as tabulated by Zanos P et al., Pharmacol Rev 2018;70:621-660; see
    the PK concentration bands). A display estimate only: discharge follows the
    clinical discharge criteria, never this number.
    """
    band = next(b for b in pk.concentration_bands() if b.name == "antidepressant_subanaesthetic")
    return float(band.low_ng_per_ml)


def live_levels(db: Session, who: CurrentUser, session_id: uuid.UUID, now: datetime) -> Levels:
    """Predicted plasma and effect-site levels from what the pump actually did, and when clear."""
    session = load_session(db, who, session_id, Action.READ_CLINICAL)
    events = pump_records(db, session_id)
    order = current_order(db, session_id)
    if not events or order is None:
        raise InvalidInput("The infusion has not started, so there are no levels to predict yet.")
    t0 = events[0].at
    pump_events = [
        pk.PumpEvent(
            t_min=(e.at - t0).total_seconds() / 60,
            kind=pk.PumpEventKind(e.kind.value),
            rate_mg_per_min=e.rate_mg_per_min,
        )
        for e in events
        if e.kind.value in {k.value for k in pk.PumpEventKind}
    ]
    now_min = max(0.0, (now - t0).total_seconds() / 60)
    remaining = max(0.0, order.vtbi_mg - given_mg(events, now, vtbi_mg=order.vtbi_mg))
    planned_end = now_min + remaining / (order.dose_mg / order.duration_min) if remaining > 0 else None
    clear = _clear_level()
    prediction = pk.predict_live(
        LIVE_MODEL,
        order.dosing_weight_kg,
        pump_events,
        now_min=now_min,
        planned_end_min=planned_end,
        until_min=max(240.0, now_min + 60),
        step_s=STEP_S,
        recovery_level_ng_per_ml=clear,
        vtbi_mg=order.vtbi_mg,
        max_points=MAX_POINTS,
    )
    sim = prediction.simulation
    record_read(
        db,
        who.actor(),
        "session.levels",
        "infusion_session",
        session_id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
    )
    return Levels(
        model=LIVE_MODEL,
        model_title=pk.get_model(LIVE_MODEL).title,
        t_min=[round(float(t), 2) for t in sim.t_min],
        cp_ng_per_ml=[round(float(c), 2) for c in sim.cp_ng_per_ml],
        ce_ng_per_ml=[round(float(c), 2) for c in sim.ce_ng_per_ml],
        now_min=round(now_min, 2),
        cp_now_ng_per_ml=round(prediction.cp_now_ng_per_ml, 1),
        ce_now_ng_per_ml=round(prediction.ce_now_ng_per_ml, 1),
        given_mg=round(prediction.given_mg, 2),
        running=prediction.running,
        clear_level_ng_per_ml=clear,
        minutes_until_clear=None
        if prediction.minutes_until_recovery_from_now is None
        or not math.isfinite(prediction.minutes_until_recovery_from_now)
        else round(prediction.minutes_until_recovery_from_now, 1),
    )
