"""Rows of the shared demo test network that tests may build on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.services.auth import CurrentUser
from ketaflow.store import models as m


def staff(engine: Engine, login: str) -> CurrentUser:
    """A demo login (e.g. "nurse1.aus") as the services see them, with their roles per clinic."""
    with Session(engine) as db:
        user = db.scalar(select(m.StaffUser).where(m.StaffUser.email == f"{login}@demo.ketaflow.org"))
        assert user is not None, login
        roles: dict[str, set[Any]] = {}
        for r in db.scalars(select(m.StaffRole).where(m.StaffRole.user_id == user.id)):
            roles.setdefault(str(r.clinic_id), set()).add(r.role)
        db.expunge_all()
        return CurrentUser(user, None, roles)


def demo_plan(db: Session, clinic_code: str) -> m.TreatmentPlan:
    """A treatment plan from the demo build whose patient has a weight on the chart.

    Chosen by the patient's MRN among the demo's own numbers (``KF`` + clinic + serial;
    patients registered later get higher numbers), never by a random id: other tests add
    patients and plans to the shared network, and one of theirs sorting first made dose
    orders fail now and then (a patient with no weight yet; a ``CONS-`` patient weighing
    130 kg, whose standard dose is beyond a soft limit).
    """
    plan = db.scalars(
        select(m.TreatmentPlan)
        .join(m.Patient, m.Patient.id == m.TreatmentPlan.patient_id)
        .join(m.Clinic, m.Clinic.id == m.TreatmentPlan.clinic_id)
        .where(
            m.Clinic.code == clinic_code,
            m.Patient.mrn.like("KF%"),
            select(m.BodyMeasurement.id).where(m.BodyMeasurement.patient_id == m.Patient.id).exists(),
        )
        .order_by(m.Patient.mrn, m.TreatmentPlan.created_at)
    ).first()
    assert plan is not None, f"the demo network has no treatment plan with a weight at {clinic_code}"
    return plan
