"""Rows of the shared demo test network that tests may build on."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.store import models as m


def demo_plan(db: Session, clinic_code: str) -> m.TreatmentPlan:
    """A treatment plan from the demo build whose patient has a weight on the chart.

    Chosen by the patient's MRN (the demo's patients come first), never by a random id:
    other tests add plans to the shared network, and a plan of theirs sorting first (a
    patient with no weight yet) made dose orders fail now and then.
    """
    plan = db.scalars(
        select(m.TreatmentPlan)
        .join(m.Patient, m.Patient.id == m.TreatmentPlan.patient_id)
        .join(m.Clinic, m.Clinic.id == m.TreatmentPlan.clinic_id)
        .where(
            m.Clinic.code == clinic_code,
            select(m.BodyMeasurement.id).where(m.BodyMeasurement.patient_id == m.Patient.id).exists(),
        )
        .order_by(m.Patient.mrn, m.TreatmentPlan.created_at)
    ).first()
    assert plan is not None, f"the demo network has no treatment plan with a weight at {clinic_code}"
    return plan
