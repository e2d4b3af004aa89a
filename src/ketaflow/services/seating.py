"""Seating a checked-in patient and ordering the dose (with smart-pump limits).

The order is judged by the same function as a treatment plan (`clinical.limits.judge_limits`):
beyond a hard limit or the ceiling it is refused, even with a reason; beyond a soft limit it
stands only with a written reason, stored with the order's limit status.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import ketaflow.clinical as clinical
from ketaflow.clinical.limits import judge_limits
from ketaflow.errors import Conflict, InvalidInput, NotFound
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
    row = m.DoseOrder(
        clinic_id=session.clinic_id,
        session_id=session_id,
        ordered_by_id=who.user.id,
        ordered_at=now,
        protocol_code=order.protocol,
        dosing_weight_kg=order.dosing_weight_kg,
        dose_mg_per_kg=order.dose_mg_per_kg,
        dose_mg=order.delivered_dose_mg,
        duration_min=order.delivered_minutes,
        bag_drug_mg=bag_mg,
        bag_volume_ml=bag_ml,
        rate_ml_per_h=order.rate_ml_per_h,
        volume_ml=order.volume_ml,
        limit_status=verdict.status.value,
        override_reason=verdict.override_reason,
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
