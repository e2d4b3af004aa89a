"""Seating a checked-in patient and ordering the dose (with smart-pump limits).

The order is judged by the same function as a treatment plan (`clinical.limits.judge_limits`):
beyond a hard limit or the ceiling it is refused, even with a reason; beyond a soft limit it
stands only with a written reason, stored with the order's limit status.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import ketaflow.clinical as clinical
from ketaflow.clinical.limits import LimitVerdict, judge_limits
from ketaflow.errors import Conflict, InvalidInput, NotFound
from ketaflow.services import corrections
from ketaflow.services.audit import record
from ketaflow.services.auth import CurrentUser
from ketaflow.services.infusion import load_session, pump_records
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write, lock_row
from ketaflow.store.facts import current
from ketaflow.store.versioning import apply_edit
from ketaflow.vocabulary import AppointmentStatus, TreatmentPhase


def open_session(
    db: Session, who: CurrentUser, appointment_id: uuid.UUID, now: datetime
) -> m.InfusionSession:
    """Seat a checked-in patient: open the infusion session for their appointment."""
    begin_write(db)
    appt = db.get(m.Appointment, appointment_id)
    if appt is None:
        raise NotFound("There is no such appointment.")
    require(who, Action.CHART_INFUSION, appt.clinic_id)
    if appt.status != AppointmentStatus.CHECKED_IN:
        raise Conflict("Check the patient in (with the driver's name and phone) before opening the infusion.")
    previous = (
        db.scalar(
            select(func.count())
            .select_from(m.InfusionSession)
            .where(m.InfusionSession.patient_id == appt.patient_id)
        )
        or 0
    )
    plan = db.get(m.TreatmentPlan, appt.treatment_plan_id) if appt.treatment_plan_id else None
    induction = plan.planned_infusions if plan else 6
    session = m.InfusionSession(
        clinic_id=appt.clinic_id,
        patient_id=appt.patient_id,
        appointment_id=appt.id,
        treatment_plan_id=appt.treatment_plan_id,
        chair_id=appt.chair_id,
        nurse_id=who.user.id,
        series_number=previous + 1,
        phase=TreatmentPhase.INDUCTION if previous < induction else TreatmentPhase.MAINTENANCE,
        opened_at=now,
    )
    db.add(session)
    apply_edit(db, appt, expected_version=appt.version, status=AppointmentStatus.IN_CHAIR)
    record(
        db,
        who.actor(),
        "session.open",
        "infusion_session",
        session.id,
        clinic_id=appt.clinic_id,
        patient_id=appt.patient_id,
    )
    db.commit()
    return session


def checked_order(
    db: Session,
    session: m.InfusionSession,
    *,
    protocol: str,
    dose_mg_per_kg: float | None,
    minutes: float | None,
    bag_mg: float,
    bag_ml: float,
    reason: str,
) -> tuple[clinical.DoseOrder, LimitVerdict]:
    """The order computed on the chart's latest weight and checked against the smart-pump limits:
    beyond a hard limit it is refused; beyond a soft limit it stands only with a written `reason`.

    The one place an order (a new one or a correction) is checked against the dose limits.
    """
    weight = db.scalars(
        current(m.BodyMeasurement)
        .where(m.BodyMeasurement.patient_id == session.patient_id)
        .order_by(m.BodyMeasurement.measured_at.desc())
    ).first()
    if weight is None:
        raise InvalidInput("There is no weight on the chart; record today's weight before ordering the dose.")
    patient = db.get(m.Patient, session.patient_id)
    sex = clinical.Sex(patient.sex) if patient and patient.sex in {"male", "female"} else None
    order = clinical.compute_dose_order(
        protocol,
        weight.weight_kg,
        bag_mg=bag_mg,
        bag_ml=bag_ml,
        dose_mg_per_kg=dose_mg_per_kg,
        minutes=minutes,
        height_cm=weight.height_cm,
        sex=sex,
    )
    verdict = judge_limits(order.checks, reason, what="dose", refusals=order.refusals)
    return order, verdict


def order_columns(
    order: clinical.DoseOrder, verdict: LimitVerdict, *, bag_mg: float, bag_ml: float
) -> dict[str, Any]:
    """The charted columns of a dose order computed and judged by `checked_order`."""
    return {
        "protocol_code": order.protocol,
        "dosing_weight_kg": order.dosing_weight_kg,
        "dose_mg_per_kg": order.dose_mg_per_kg,
        "dose_mg": order.delivered_dose_mg,
        "duration_min": order.delivered_minutes,
        "bag_drug_mg": bag_mg,
        "bag_volume_ml": bag_ml,
        "rate_ml_per_h": order.rate_ml_per_h,
        "volume_ml": order.volume_ml,
        "limit_status": verdict.status.value,
        "override_reason": verdict.override_reason,
    }


def order_dose(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    *,
    protocol: str,
    dose_mg_per_kg: float | None,
    minutes: float | None,
    bag_mg: float,
    bag_ml: float,
    reason: str,
    now: datetime,
) -> m.DoseOrder:
    """Order the dose with smart-pump limits: a hard limit is refused; a soft limit needs a written reason."""
    begin_write(db)
    session = load_session(db, who, session_id, Action.ORDER_DOSE)
    # The same lock as the pump's: an order and a start pressed at once are taken one after the
    # other, so the pump never runs an order that is no longer the current one.
    lock_row(db, m.InfusionSession, session_id)
    if pump_records(db, session_id):
        raise Conflict("The infusion has already started; stop it before ordering a different dose.")
    order, verdict = checked_order(
        db,
        session,
        protocol=protocol,
        dose_mg_per_kg=dose_mg_per_kg,
        minutes=minutes,
        bag_mg=bag_mg,
        bag_ml=bag_ml,
        reason=reason,
    )
    row = m.DoseOrder(
        clinic_id=session.clinic_id,
        session_id=session_id,
        ordered_by_id=who.user.id,
        ordered_at=now,
        **order_columns(order, verdict, bag_mg=bag_mg, bag_ml=bag_ml),
        recorded_by_id=who.user.id,
        recorded_at=now,
    )
    db.add(row)
    record(
        db,
        who.actor(),
        "dose.order",
        "infusion_session",
        session_id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        details={"dose_mg": row.dose_mg, "status": row.limit_status, "reason": reason.strip() or None},
    )
    db.commit()
    return row


def order_locked(db: Session, session_id: uuid.UUID) -> str | None:
    """Why the infusion's dose order can no longer be corrected (its pump has started), or None."""
    events = pump_records(db, session_id)
    if not events:
        return None
    session = db.get(m.InfusionSession, session_id)
    clinic = db.get(m.Clinic, session.clinic_id) if session else None
    started = events[0].at.astimezone(ZoneInfo(clinic.timezone if clinic else "UTC")).strftime("%H:%M")
    return (
        f"The pump was started at {started}, so this order can no longer be corrected: it is the "
        "record of what the pump was programmed to give. If the dose is wrong, pause or stop the "
        "pump now and write why (the reason is charted with the pump event), and tell the "
        "patient's psychiatrist; the next infusion gets its own order."
    )


def correct_dose_order(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    order_id: uuid.UUID,
    *,
    protocol: str,
    dose_mg_per_kg: float | None,
    minutes: float | None,
    bag_mg: float,
    bag_ml: float,
    override_reason: str,
    reason: str,
    now: datetime,
) -> m.DoseOrder:
    """Correct a dose order before the pump starts: computed and checked against the limits again
    exactly as a new order (`checked_order`), written as a new row amending the order, which stays.

    Once the pump has started the order is what the pump was programmed with and what the drug
    given is reckoned from, so it is no longer corrected; the refusal says what to do instead.
    """
    begin_write(db)
    original = corrections.fetch(db, m.DoseOrder, order_id, "dose order", session_id=session_id)
    require(who, Action.CORRECT_DOSE_ORDER, original.clinic_id)
    corrections.claim(db, original, "dose order")
    text = corrections.check_reason(reason)
    refusal = order_locked(db, session_id)
    if refusal is not None:
        raise Conflict(refusal)
    session = db.get(m.InfusionSession, session_id)
    assert session is not None  # the order belongs to it
    order, verdict = checked_order(
        db,
        session,
        protocol=protocol,
        dose_mg_per_kg=dose_mg_per_kg,
        minutes=minutes,
        bag_mg=bag_mg,
        bag_ml=bag_ml,
        reason=override_reason,
    )
    row = corrections.save(
        db,
        who,
        original,
        reason=text,
        patient_id=session.patient_id,
        changes=order_columns(order, verdict, bag_mg=bag_mg, bag_ml=bag_ml),
        now=now,
        # The psychiatrist who corrects the order now orders the dose as corrected.
        bookkeeping={"ordered_by_id": who.user.id},
    )
    db.commit()
    return row
