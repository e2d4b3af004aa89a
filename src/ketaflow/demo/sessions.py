"""Chart one demo infusion: appointment, order, pump events, vitals, effects, discharge."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from ketaflow.clinical import DoseOrder, compute_dose_order, default_rules
from ketaflow.demo.context import ClinicContext
from ketaflow.demo.outcomes import spread_items
from ketaflow.demo.sedation import DISCHARGE_SCREEN, peak_sedation, sedation_at

# Standard bag: 100 mg ketamine in 100 mL normal saline (1 mg/mL). A common clinic
# preparation; each clinic sets its own in the dosing rules.
BAG_DRUG_MG = 100.0
BAG_VOLUME_ML = 100.0


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

    # Blood pressure: a transient rise that peaks at the end of the infusion.
    severe = rng.random() < s.severe_hypertension_fraction
    sys_rise = max(-5.0, rng.gauss(s.systolic_rise_mean, s.systolic_rise_sd))
    dia_rise = max(-5.0, rng.gauss(s.diastolic_rise_mean, s.diastolic_rise_sd))
    base_sys, base_dia, base_hr = _baseline(ctx, pid)
    if severe:
        sys_rise = max(sys_rise, 185 - base_sys + rng.uniform(0, 10))
        dia_rise = max(dia_rise, 112 - base_dia + rng.uniform(0, 5))

    pump("start", start, 0.0, rate_ml_per_h)
    paused_min = 0.0
    pause_at_min = None
    if severe:
        pause_at_min = minutes * 0.6
        paused_min = float(rng.randint(8, 15))
        t_pause = start + timedelta(minutes=pause_at_min)
        pump("pause", t_pause, rate_mg_per_min * pause_at_min, None)
        pump("resume", t_pause + timedelta(minutes=paused_min), rate_mg_per_min * pause_at_min, rate_ml_per_h)
        effect = ctx.add(
            "side_effects",
            kind="hypertension",
            severity="moderate",
            onset_at=t_pause,
            resolved_at=t_pause + timedelta(minutes=paused_min),
            is_adverse_event=True,
            notes="Infusion paused; psychiatrist notified.",
            recorded_at=t_pause,
            **by_nurse,
        )
        ctx.add(
            "interventions",
            side_effect_id=effect,
            kind="action",
            description="Infusion paused, BP rechecked",
            drug_name=None,
            dose_text=None,
            given_at=t_pause,
            recorded_at=t_pause,
            **by_nurse,
        )
    end = start + timedelta(minutes=minutes + paused_min)
    pump("stop", end, dose_mg, None)

    # Discharge no earlier than the clinical rules allow (and usually a little later).
    observe_min = minimum_observation_min() + rng.randint(0, 20)
    discharged = end + timedelta(minutes=observe_min)
    total_min = (discharged - start).total_seconds() / 60
    sedation_peak = peak_sedation(sid)
    t = -5.0
    while t <= total_min:
        at = start + timedelta(minutes=t)
        on = t - (paused_min if pause_at_min is not None and t > pause_at_min + paused_min else 0)
        if t < 0:
            shape = 0.0
        elif at <= end:
            shape = min(1.0, max(0.0, on / minutes)) ** 0.7
        else:
            shape = math.exp(-((at - end).total_seconds() / 60) / 15)
        ctx.add(
            "vital_signs",
            patient_id=pid,
            measured_at=at,
            phase="baseline" if t < 0 else "infusion" if at <= end else "recovery",
            source="monitor",
            systolic_mmhg=round(base_sys + sys_rise * shape + rng.gauss(0, 4)),
            diastolic_mmhg=round(base_dia + dia_rise * shape + rng.gauss(0, 3)),
            heart_rate_bpm=round(base_hr + 6 * shape + rng.gauss(0, 3)),
            spo2_percent=min(100, round(rng.gauss(97.5, 1.0))),
            respiratory_rate_per_min=round(rng.gauss(15, 1.5)),
            sedation_score=sedation_at(sedation_peak, shape),
            recorded_at=at,
            **by_nurse,
        )
        t += s.vitals_every_min

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
        at=start + timedelta(minutes=minutes + paused_min),
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


def _baseline(ctx: ClinicContext, pid: uuid.UUID) -> tuple[float, float, float]:
    """The patient's own resting BP and heart rate (drawn once, remembered)."""
    key = ("baseline", pid)
    cache: dict[Any, tuple[float, float, float]] = ctx.cache
    if key not in cache:
        rng = ctx.rng
        cache[key] = (rng.gauss(124, 12), rng.gauss(79, 8), rng.gauss(74, 9))
    sys_, dia, hr = cache[key]
    return sys_ + ctx.rng.gauss(0, 5), dia + ctx.rng.gauss(0, 4), hr + ctx.rng.gauss(0, 4)


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
