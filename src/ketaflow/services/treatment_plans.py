"""Treatment plans from a protocol, checked against the protocol's smart-pump style limits.

A plan's dose and duration are checked with the same rules as a dose order and judged by the
same function (`clinical.limits.judge_limits`): outside a hard limit or above the absolute
ceiling it is refused, even with a reason; outside a soft limit it stands only with the
psychiatrist's written reason. A plan needs an eligible consultation and a ketamine-treatment
consent in force.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.clinical import OrderStatus, Sex, default_rules, dosing_weight
from ketaflow.clinical.limits import (
    LIMITED_INPUT,
    LimitCheck,
    check_ceiling,
    check_limit,
    judge_limits,
)
from ketaflow.clinical.rules import Protocol
from ketaflow.errors import Conflict, InvalidInput, NotFound, invalid
from ketaflow.services.audit import record
from ketaflow.services.auth import CurrentUser
from ketaflow.services.consent import latest_consents
from ketaflow.services.consult_records import latest_consultation
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.store.facts import current
from ketaflow.store.versioning import apply_edit
from ketaflow.vocabulary import ConsentKind, ConsentStatus, PlanStatus

# A data-entry guard (one infusion a day for a year), not a clinical limit: the protocols give a
# series length but no published maximum; a plan longer than its protocol's series needs a reason.
MAX_PLANNED_INFUSIONS = 365
_FIELD_OF = {**LIMITED_INPUT, "planned infusions": "planned_infusions"}


def plan_checks(
    protocol: Protocol,
    *,
    dose_mg_per_kg: float,
    minutes: float,
    planned_infusions: int,
    weight_kg: float | None,
) -> list[LimitCheck]:
    """Every limit the plan crosses (protocol limits, the absolute ceiling, the series length)."""
    if not (math.isfinite(dose_mg_per_kg) and dose_mg_per_kg > 0):
        raise invalid("dose_mg_per_kg", "The target dose must be a number above 0 mg/kg.")
    if not (math.isfinite(minutes) and minutes > 0):
        raise invalid("minutes", "The infusion time must be a number of minutes above 0.")
    if not 1 <= planned_infusions <= MAX_PLANNED_INFUSIONS:
        raise invalid(
            "planned_infusions",
            f"Planned infusions must be a whole number from 1 to {MAX_PLANNED_INFUSIONS}.",
        )
    limits = protocol.limits
    rate = dose_mg_per_kg / (minutes / 60.0)
    found = [
        check_limit("dose", dose_mg_per_kg, "mg/kg", limits.dose_mg_per_kg),
        check_limit("duration", minutes, "min", limits.minutes),
        check_limit("rate", rate, "mg/kg/h", limits.rate_mg_per_kg_per_h),
    ]
    total = dose_mg_per_kg * weight_kg if weight_kg else None
    if total is not None:
        found.append(check_limit("total dose", total, "mg", limits.total_mg))
    checks = [c for c in found if c is not None]
    checks += check_ceiling(
        default_rules().ceiling,
        dose_mg_per_kg=dose_mg_per_kg,
        rate_mg_per_kg_per_h=rate,
        total_mg=total if total is not None else 0.0,
    )
    series = protocol.series
    if planned_infusions > series.infusions:
        checks.append(
            LimitCheck(
                "planned infusions",
                planned_infusions,
                "infusions",
                OrderStatus.SOFT_LIMIT,
                f"{planned_infusions} infusions is more than this protocol's series of {series.infusions}; "
                "it stands only with the psychiatrist's written reason.",
                series.source,
            )
        )
    return checks


def _dosing_kg(patient: m.Patient, weight: m.BodyMeasurement | None) -> float | None:
    """The weight a dose would be ordered on (the clinic's dosing-weight policy), if known."""
    if weight is None:
        return None
    sex = Sex(patient.sex) if patient.sex in {"male", "female"} else None
    try:
        return dosing_weight(weight.weight_kg, height_cm=weight.height_cm, sex=sex).dosing_weight_kg
    except InvalidInput:
        return None  # an implausible weight on file is refused when the dose is ordered


def missing_for_plan(db: Session, patient_id: uuid.UUID) -> tuple[m.Consultation | None, list[str]]:
    """The eligible consultation to plan from, and what is missing before a plan can be set."""
    consultation = latest_consultation(db, patient_id)
    missing: list[str] = []
    if consultation is None:
        missing.append("a consultation (none is on file)")
    elif not consultation.eligible:
        missing.append("an eligible consultation (the latest found a contraindication)")
    latest, _ = latest_consents(db, patient_id)
    consent = latest[ConsentKind.KETAMINE_TREATMENT]
    if consent is None:
        missing.append("the patient's consent to ketamine treatment (none is on file)")
    elif consent.status != ConsentStatus.GIVEN:
        missing.append("the patient's consent to ketamine treatment (it was withdrawn)")
    return consultation, missing


def create_plan(
    db: Session,
    who: CurrentUser,
    patient_id: uuid.UUID,
    *,
    protocol: str,
    planned_infusions: int | None,
    dose_mg_per_kg: float | None,
    minutes: float | None,
    reason: str,
    notes: str,
    now: datetime,
) -> m.TreatmentPlan:
    """Set a plan from a protocol (defaults from the protocol; limits as for a dose order)."""
    begin_write(db)
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, Action.PLAN_TREATMENT, patient.clinic_id)
    try:
        chosen = default_rules().protocol(protocol)
    except InvalidInput as exc:
        raise invalid("protocol", exc.message) from None
    consultation, missing = missing_for_plan(db, patient_id)
    if missing:
        raise Conflict("A treatment plan needs " + " and ".join(missing) + ".")
    active = db.scalars(
        select(m.TreatmentPlan).where(
            m.TreatmentPlan.patient_id == patient_id, m.TreatmentPlan.status == PlanStatus.ACTIVE
        )
    ).first()
    if active is not None:
        raise Conflict(
            f"The patient already has an active plan ({active.protocol_code}); "
            "complete or stop it before setting a new one."
        )
    weight = db.scalars(
        current(m.BodyMeasurement)
        .where(m.BodyMeasurement.patient_id == patient_id)
        .order_by(m.BodyMeasurement.measured_at.desc())
    ).first()
    dose = chosen.default_dose_mg_per_kg if dose_mg_per_kg is None else dose_mg_per_kg
    mins = chosen.default_minutes if minutes is None else minutes
    count = chosen.series.infusions if planned_infusions is None else planned_infusions
    checks = plan_checks(
        chosen,
        dose_mg_per_kg=dose,
        minutes=mins,
        planned_infusions=count,
        weight_kg=_dosing_kg(patient, weight),
    )
    verdict = judge_limits(checks, reason, what="plan", field_of=_FIELD_OF)
    assert consultation is not None
    plan = m.TreatmentPlan(
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        consultation_id=consultation.id,
        protocol_code=protocol,
        planned_infusions=count,
        target_dose_mg_per_kg=dose,
        infusion_minutes=mins,
        status=PlanStatus.ACTIVE,
        notes=notes.strip() or None,
        override_reason=verdict.override_reason,
        created_by_id=who.user.id,
        created_at=now,
        updated_at=now,
    )
    db.add(plan)
    db.flush()
    record(
        db,
        who.actor(),
        "plan.create",
        "treatment_plan",
        plan.id,
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        details={
            "protocol": protocol,
            "dose_mg_per_kg": dose,
            "minutes": mins,
            "planned_infusions": count,
            "limit_status": verdict.status.value,
            "reason": reason.strip() or None,
        },
    )
    db.commit()
    return plan


def edit_plan(
    db: Session,
    who: CurrentUser,
    plan_id: uuid.UUID,
    *,
    expected_version: int,
    status: str | None,
    planned_infusions: int | None,
    reason: str,
    now: datetime,
) -> m.TreatmentPlan:
    """Change a plan's status or planned infusions; a stale version is refused (409)."""
    begin_write(db)
    plan = db.get(m.TreatmentPlan, plan_id)
    if plan is None:
        raise NotFound("There is no such treatment plan.")
    require(who, Action.PLAN_TREATMENT, plan.clinic_id)
    apply_edit(db, plan, expected_version=expected_version)  # a stale form is refused first
    changes: dict[str, object] = {}
    if status:
        try:
            new_status = PlanStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in PlanStatus)
            raise invalid("status", f"The plan status must be one of {known}.") from None
        if new_status != plan.status:
            changes["status"] = new_status
        if new_status == PlanStatus.ACTIVE and plan.status != PlanStatus.ACTIVE:
            other = db.scalars(
                select(m.TreatmentPlan).where(
                    m.TreatmentPlan.patient_id == plan.patient_id,
                    m.TreatmentPlan.status == PlanStatus.ACTIVE,
                    m.TreatmentPlan.id != plan.id,
                )
            ).first()
            if other is not None:
                raise Conflict(
                    f"The patient already has an active plan ({other.protocol_code}); "
                    "complete or stop it before reopening this one."
                )
    if planned_infusions is not None and planned_infusions != plan.planned_infusions:
        protocol = default_rules().protocol(plan.protocol_code)
        checks = plan_checks(
            protocol,
            dose_mg_per_kg=plan.target_dose_mg_per_kg,
            minutes=plan.infusion_minutes,
            planned_infusions=planned_infusions,
            weight_kg=None,
        )
        checks = [c for c in checks if c.quantity == "planned infusions"]
        verdict = judge_limits(checks, reason, what="plan", field_of=_FIELD_OF)
        changes["planned_infusions"] = planned_infusions
        if verdict.override_reason:
            changes["override_reason"] = verdict.override_reason
    if not changes:
        raise invalid("status", "Nothing to change: choose a new status or number of planned infusions.")
    changes["updated_at"] = now
    apply_edit(db, plan, expected_version=expected_version, **changes)
    record(
        db,
        who.actor(),
        "plan.edit",
        "treatment_plan",
        plan.id,
        clinic_id=plan.clinic_id,
        patient_id=plan.patient_id,
        details={k: str(v) for k, v in changes.items() if k != "override_reason"}
        | {"reason": reason.strip() or None},
    )
    db.commit()
    return plan
