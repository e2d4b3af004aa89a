"""Chart one demo infusion: appointment, order, pump events, vitals, effects, discharge."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from ketaflow.clinical import (
    BloodPressure,
    DoseOrder,
    EarlierReading,
    ScreeningLevel,
    VitalLevel,
    VitalSigns,
    assess_infusion_reading,
    compute_dose_order,
    default_rules,
    pre_infusion_bp,
)
from ketaflow.demo.blood_pressure import (
    InfusionBP,
    bp_stream,
    faded,
    infusion_bp,
    resting_bp,
    rise_shape,
)
from ketaflow.demo.context import ClinicContext
from ketaflow.demo.outcomes import spread_items
from ketaflow.demo.sedation import DISCHARGE_SCREEN, peak_sedation, sedation_at

# Standard bag: 100 mg ketamine in 100 mL normal saline (1 mg/mL). A common clinic
# preparation; each clinic sets its own in the dosing rules.
BAG_DRUG_MG = 100.0
BAG_VOLUME_ML = 100.0
# Blood-pressure alerts charted as hypertension (the others, a low systolic, as "other").
HIGH_BP = frozenset({"systolic_high", "diastolic_high", "systolic_rise"})
# Visits in a row a patient may be sent home for a pre-infusion pressure at the defer level
# before the demo charts the infusion anyway: our choice, no source.
MAX_DEFERRALS = 5


def chart_infusion(
    ctx: ClinicContext,
    *,
    pid: uuid.UUID,
    plan_id: uuid.UUID,
    day: date,
    series_number: int,
    phase: str,
    weight_kg: float,
    protocol: str,
    escort: dict[str, str],
    transport: bool,
    phq9: int,
    cadss: int,
) -> date:
    rng, s = ctx.rng, ctx.settings
    # The pre-infusion blood pressure first: at the level the rules defer, no infusion today (the
    # patient is rebooked for the next day; the deferred visit itself is not charted).
    day, bp, pre_infusion = _startable_visit(ctx, pid, series_number, day)
    order = dose_order(protocol, round(weight_kg, 1))
    minutes = order.delivered_minutes
    whole_day = minutes > 60
    appt_id, day, chair_id, starts = ctx.book.book(
        ctx,
        pid=pid,
        plan_id=plan_id,
        day=day,
        escort=escort,
        transport=transport,
        whole_day=whole_day,
        charted=True,
    )
    nurse = ctx.staff_of("nurse")
    psych = ctx.staff_of("psychiatrist")
    fact = {"amends_id": None, "amendment_reason": None}
    sid = ctx.add(
        "infusion_sessions",
        patient_id=pid,
        appointment_id=appt_id,
        treatment_plan_id=plan_id,
        chair_id=chair_id,
        nurse_id=nurse,
        series_number=series_number,
        phase=phase,
        opened_at=starts,
    )
    by_nurse = {"session_id": sid, "recorded_by_id": nurse, **fact}
    questionnaire(ctx, pid, sid, "phq9", phq9, day, respondent="patient", at=starts - timedelta(minutes=5))

    dose_mg = order.delivered_dose_mg
    rate_ml_per_h = order.rate_ml_per_h
    rate_mg_per_min = dose_mg / minutes
    start = starts + timedelta(minutes=15)
    soft = order.status.value == "soft_limit"
    ctx.add(
        "dose_orders",
        ordered_by_id=psych,
        ordered_at=starts,
        protocol_code=protocol,
        dosing_weight_kg=order.dosing_weight_kg,
        dose_mg_per_kg=order.dose_mg_per_kg,
        dose_mg=dose_mg,
        duration_min=minutes,
        bag_drug_mg=BAG_DRUG_MG,
        bag_volume_ml=BAG_VOLUME_ML,
        rate_ml_per_h=rate_ml_per_h,
        volume_ml=order.volume_ml,
        limit_status=order.status.value,
        override_reason="Titration for non-response with good tolerance" if soft else None,
        recorded_at=starts,
        session_id=sid,
        recorded_by_id=psych,
        amends_id=None,
        amendment_reason=None,
    )

    def pump(kind: str, at: datetime, cumulative: float, rate: float | None) -> None:
        ctx.add(
            "administration_events",
            kind=kind,
            occurred_at=at,
            rate_ml_per_h=rate,
            rate_mg_per_min=None if rate is None else rate_mg_per_min,
            bolus_mg=None,
            cumulative_mg=round(cumulative, 2),
            recorded_at=at,
            **by_nurse,
        )

    # Blood pressure (`ketaflow.demo.blood_pressure`): each reading is judged by the clinical rules
    # as it is charted, and the pump does what they say: a confirmed pause-level reading pauses it
    # (once; the psychiatrist's order resumes it), a stop-level reading stops it.
    base_hr = _resting_heart_rate(ctx, pid)
    pump("start", start, 0.0, rate_ml_per_h)
    # Discharge no earlier than the clinical rules allow (and usually a little later).
    observe_min = minimum_observation_min() + rng.randint(0, 20)
    sedation_peak = peak_sedation(sid)
    end_min = float(minutes)  # when the pump stops: later after a pause, earlier after a stop
    paused_at: float | None = None
    paused_min = 0.0
    held_shape = end_shape = 1.0
    stop_mg: float | None = None  # the dose given when a stop-level reading ended it early
    before: VitalSigns | None = None  # the pre-infusion reading, the rules' baseline
    during: list[tuple[float, VitalSigns]] = []
    t = -5.0
    while t <= end_min + observe_min:
        at = start + timedelta(minutes=t)
        pausing = paused_at is not None and paused_at <= t < paused_at + paused_min
        if t < 0:
            phase, shape = "baseline", 0.0
        elif t <= end_min and pausing:
            phase, shape = "infusion", faded(held_shape, t - (paused_at or 0.0))
        elif t <= end_min:
            phase, shape = "infusion", rise_shape(t - paused_min, minutes)
        else:
            phase, shape = "recovery", faded(end_shape, t - end_min)
        systolic, diastolic = pre_infusion if t < 0 else bp.reading(shape, s)
        ctx.add(
            "vital_signs",
            patient_id=pid,
            measured_at=at,
            phase=phase,
            source="monitor",
            systolic_mmhg=systolic,
            diastolic_mmhg=diastolic,
            heart_rate_bpm=round(base_hr + 6 * shape + rng.gauss(0, 3)),
            spo2_percent=min(100, round(rng.gauss(97.5, 1.0))),
            respiratory_rate_per_min=round(rng.gauss(15, 1.5)),
            sedation_score=sedation_at(sedation_peak, shape),
            recorded_at=at,
            **by_nurse,
        )
        signs = VitalSigns(bp=BloodPressure(systolic, diastolic))
        before = before or signs
        if phase == "infusion":
            earlier = [EarlierReading(t - t0, v) for t0, v in during]
            during.append((t, signs))
            judged = assess_infusion_reading(signs, baseline=before, earlier=earlier)
            level = judged.level
            given_min = (paused_at or 0.0) if pausing else t - paused_min
            high = any(a.parameter in HIGH_BP for a in judged.alerts if a.level is level)
            if level is VitalLevel.STOP:
                end_min, end_shape, stop_mg = t, shape, rate_mg_per_min * given_min
                _bp_event(ctx, by_nurse, at, None, "stopped", high=high)
            elif level is VitalLevel.PAUSE and paused_at is None and given_min >= minutes:
                paused_at = t  # the pump has just finished: charted, nothing left to pause
                _bp_event(ctx, by_nurse, at, None, "already complete", high=high)
            elif level is VitalLevel.PAUSE and paused_at is None:
                paused_at, held_shape = t, shape
                paused_min = float(rng.randint(8, 15))
                end_min += paused_min
                resume = at + timedelta(minutes=paused_min)
                pump("pause", at, rate_mg_per_min * given_min, None)
                pump("resume", resume, rate_mg_per_min * given_min, rate_ml_per_h)
                _bp_event(ctx, by_nurse, at, resume, "paused", high=high)
        t += s.vitals_every_min
    end = start + timedelta(minutes=end_min)
    pump("stop", end, dose_mg if stop_mg is None else stop_mg, None)
    discharged = end + timedelta(minutes=observe_min)

    ctx.add(
        "comfort_settings",
        set_at=start,
        music=rng.random() < 0.7,
        dimmed_light=rng.random() < 0.8,
        eye_mask=rng.random() < 0.4,
        companion_present=rng.random() < 0.15,
        recorded_at=start,
        **by_nurse,
    )
    _side_effects(ctx, by_nurse, start, minutes, cadss)
    if rng.random() < s.restroom_request_fraction:
        asked = end + timedelta(minutes=rng.randint(2, 20))
        helped = asked + timedelta(minutes=rng.randint(1, 4))
        first = ctx.add(
            "assistance_requests",
            reason="restroom",
            asked_at=asked,
            helped_at=None,
            helped_by_id=None,
            notes=None,
            recorded_at=asked,
            **by_nurse,
        )
        # Answering the request is charted as an amendment of the request.
        ctx.add(
            "assistance_requests",
            reason="restroom",
            asked_at=asked,
            helped_at=helped,
            helped_by_id=nurse,
            notes="Walked with assistance",
            recorded_at=helped,
            **{**by_nurse, "amends_id": first, "amendment_reason": "answered"},
        )
    questionnaire(
        ctx,
        pid,
        sid,
        "cadss",
        cadss,
        day,
        respondent="clinician",
        at=end,
    )
    ctx.add(
        "discharges",
        discharged_at=discharged,
        discharged_by_id=nurse,
        criteria={
            "observation_min": observe_min,
            "vitals_within_limits": True,
            "walks_with_help": True,
            "nausea_controlled": True,
            "driver_confirmed": True,
        },
        recovery_score_kind="modified_aldrete",
        recovery_score=rng.choice([9, 10, 10]),
        escort_name=None if transport else escort["name"],
        escort_phone=None if transport else escort["phone"],
        escort_relationship=None if transport else escort["relationship"],
        transport_arranged="rideshare booked by clinic" if transport else None,
        instructions_given=True,
        **DISCHARGE_SCREEN,
        recorded_at=discharged,
        **by_nurse,
    )
    return day


@cache
def dose_order(protocol: str, weight_kg: float) -> DoseOrder:
    """The order the clinical rules accept for this protocol and weight.

    The protocol's own dose first; where the rules refuse it (a heavy patient over the
    total-mg limit), the psychiatrist's usual answer: step the mg/kg down until they accept.
    """
    order = compute_dose_order(protocol, weight_kg, bag_mg=BAG_DRUG_MG, bag_ml=BAG_VOLUME_ML)
    mg_per_kg = order.dose_mg_per_kg
    while order.status.value == "hard_limit" and mg_per_kg > 0.1:
        mg_per_kg = round(mg_per_kg - 0.05, 2)
        order = compute_dose_order(
            protocol, weight_kg, bag_mg=BAG_DRUG_MG, bag_ml=BAG_VOLUME_ML, dose_mg_per_kg=mg_per_kg
        )
    if order.status.value == "hard_limit":  # the generator must never chart a refused order
        raise AssertionError(f"demo order refused by the rules: {protocol} at {weight_kg} kg")
    return order


@cache
def minimum_observation_min() -> int:
    return math.ceil(default_rules().discharge.min_observation_minutes.value)


def _resting_bp(ctx: ClinicContext, pid: uuid.UUID) -> tuple[float, float]:
    """The patient's own resting systolic and diastolic pressure (drawn once, remembered)."""
    key = ("resting_bp", pid)
    if key not in ctx.cache:
        ctx.cache[key] = resting_bp(ctx.settings, bp_stream(ctx.settings, pid))
    resting: tuple[float, float] = ctx.cache[key]
    return resting


def _resting_heart_rate(ctx: ClinicContext, pid: uuid.UUID) -> float:
    """Today's resting heart rate around the patient's own (drawn once, remembered).

    Mean 74, SD 9 between patients and 4 between visits: no source found; our choice.
    """
    key = ("resting_hr", pid)
    if key not in ctx.cache:
        ctx.cache[key] = ctx.rng.gauss(74, 9)
    resting: float = ctx.cache[key]
    return resting + ctx.rng.gauss(0, 4)


def _startable_visit(
    ctx: ClinicContext, pid: uuid.UUID, series_number: int, day: date
) -> tuple[date, InfusionBP, tuple[int, int]]:
    """The first visit from ``day`` whose pre-infusion reading the rules let start, its pressure and reading.

    A reading at the defer level (``pre_infusion_bp``) sends the patient home, rebooked for the
    next day. After MAX_DEFERRALS visits, or on the day before the as-of day, the visit is charted
    whatever its reading (a patient whose own resting pressure sits at the level: the
    psychiatrist's call, not modelled).
    """
    s = ctx.settings
    resting = _resting_bp(ctx, pid)
    for attempt in range(MAX_DEFERRALS + 1):
        bp = infusion_bp(s, resting, bp_stream(s, f"{pid}:{series_number}:{attempt}"))
        reading = bp.reading(0.0, s)
        finding = pre_infusion_bp(BloodPressure(*reading))
        startable = finding is None or finding.level.rank < ScreeningLevel.DEFER.rank
        if startable or day + timedelta(days=1) >= s.as_of:
            break
        day += timedelta(days=1)
    return day, bp, reading


def _bp_event(
    ctx: ClinicContext,
    by_nurse: dict[str, Any],
    at: datetime,
    resumed: datetime | None,
    done: str,
    *,
    high: bool,
) -> None:
    """The side effect charted with a pause (resolved when the pump resumes) or a stop."""
    effect = ctx.add(
        "side_effects",
        kind="hypertension" if high else "other",
        severity="moderate" if resumed else "severe",
        onset_at=at,
        resolved_at=resumed,
        is_adverse_event=True,
        notes=f"{'High' if high else 'Low'} blood pressure. Infusion {done}; psychiatrist notified.",
        recorded_at=at,
        **by_nurse,
    )
    ctx.add(
        "interventions",
        side_effect_id=effect,
        kind="action",
        description=f"Infusion {done}, BP rechecked",
        drug_name=None,
        dose_text=None,
        given_at=at,
        recorded_at=at,
        **by_nurse,
    )


def _side_effects(
    ctx: ClinicContext, by_nurse: dict[str, Any], start: datetime, minutes: float, cadss: int
) -> None:
    rng = ctx.rng
    if cadss >= 20:
        onset = start + timedelta(minutes=rng.randint(5, 15))
        ctx.add(
            "side_effects",
            kind="dissociation",
            severity="moderate" if cadss >= 35 else "mild",
            onset_at=onset,
            resolved_at=start + timedelta(minutes=minutes + rng.randint(5, 30)),
            is_adverse_event=False,
            notes=None,
            recorded_at=onset,
            **by_nurse,
        )
    for kind, rate in ctx.settings.side_effect_rates.items():
        if rng.random() >= rate:
            continue
        onset = start + timedelta(minutes=rng.randint(5, int(minutes) + 20))
        severe = kind == "vomiting"
        effect = ctx.add(
            "side_effects",
            kind=kind,
            severity="moderate" if severe else "mild",
            onset_at=onset,
            resolved_at=onset + timedelta(minutes=rng.randint(5, 40)),
            is_adverse_event=severe,
            notes=None,
            recorded_at=onset,
            **by_nurse,
        )
        if kind in ("nausea", "vomiting") and rng.random() < 0.6:
            ctx.add(
                "interventions",
                side_effect_id=effect,
                kind="drug",
                description="Antiemetic given",
                drug_name="ondansetron",
                dose_text="4 mg IV",
                given_at=onset + timedelta(minutes=2),
                recorded_at=onset + timedelta(minutes=2),
                **by_nurse,
            )


def questionnaire(
    ctx: ClinicContext,
    pid: uuid.UUID,
    session_id: uuid.UUID | None,
    instrument: str,
    total: int,
    day: date,
    *,
    respondent: str,
    at: datetime | None = None,
) -> None:
    if day >= ctx.settings.as_of:
        return
    n_items, item_max = {"phq9": (9, 3), "gad7": (7, 3), "cadss": (23, 4)}[instrument]
    total = max(0, min(total, n_items * item_max))
    answered = at or ctx.book.local_to_utc(day, time(19, ctx.rng.randrange(60)))
    ctx.add(
        "questionnaire_responses",
        patient_id=pid,
        session_id=session_id,
        instrument=instrument,
        answers=spread_items(ctx.rng, total, n_items, item_max),
        total=total,
        respondent=respondent,
        answered_at=answered,
        for_date=day,
        recorded_at=answered,
        recorded_by_id=None,
        amends_id=None,
        amendment_reason=None,
    )
