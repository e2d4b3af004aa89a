"""One patient's questionnaires and infusions, the clinic list, the demo ground truth."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    Connection,
    select,
)

from ketaflow.store import models as m
from ketaflow.store.outcome_queries.common import (
    current_rows,
)

# --- one patient -------------------------------------------------------------------------------


def patients_by_mrn(conn: Connection, mrn: str) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """(patient id, home clinic id, MRN) of the patients with this MRN (one per organization)."""
    p = m.Patient
    return [(r[0], r[1], r[2]) for r in conn.execute(select(p.id, p.clinic_id, p.mrn).where(p.mrn == mrn))]


def patient_by_id(conn: Connection, patient_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """(patient id, home clinic id, MRN) of the patient with this id (empty when none)."""
    p = m.Patient
    return [
        (r[0], r[1], r[2]) for r in conn.execute(select(p.id, p.clinic_id, p.mrn).where(p.id == patient_id))
    ]


def patient_questionnaires(conn: Connection, patient_id: uuid.UUID) -> list[Any]:
    """The patient's current questionnaire totals in time order, with the infusion each preceded."""
    qr = (
        current_rows(m.QuestionnaireResponse)
        .where(m.QuestionnaireResponse.patient_id == patient_id)
        .subquery()
    )
    s = m.InfusionSession
    stmt = (
        select(qr.c.instrument, qr.c.total, qr.c.answered_at, s.series_number, s.phase)
        .outerjoin(s, s.id == qr.c.session_id)
        .where(qr.c.total.is_not(None))
        .order_by(qr.c.answered_at, qr.c.id)
    )
    return list(conn.execute(stmt))


def patient_infusions(conn: Connection, patient_id: uuid.UUID) -> list[Any]:
    """The patient's infusions in order: series number, phase, opened at, plan protocol."""
    s, tp = m.InfusionSession, m.TreatmentPlan
    stmt = (
        select(s.series_number, s.phase, s.opened_at, tp.protocol_code)
        .outerjoin(tp, tp.id == s.treatment_plan_id)
        .where(s.patient_id == patient_id)
        .order_by(s.opened_at)
    )
    return list(conn.execute(stmt))


def clinics(conn: Connection) -> list[tuple[uuid.UUID, str, str]]:
    """(id, code, name) of every clinic, by code."""
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(select(m.Clinic.id, m.Clinic.code, m.Clinic.name).order_by(m.Clinic.code))
    ]


def demo_ground_truth(conn: Connection) -> dict[str, Any] | None:
    """The settings of the completed demo build, if this database holds one."""
    row = conn.execute(
        select(m.DemoBuild.settings)
        .where(m.DemoBuild.completed_at.is_not(None))
        .order_by(m.DemoBuild.started_at)
    ).first()
    return None if row is None else dict(row[0])
