"""De-identified export tables (row-level by nature: research tables)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    case,
    func,
    select,
)

from ketaflow.store import models as m
from ketaflow.store.outcome_queries.common import (
    OutcomeDefinitions,
    current_rows,
)
from ketaflow.store.outcome_queries.courses import courses

# --- de-identified export (row-level by nature: research tables) ----------------------------------


def export_patients(conn: Connection) -> list[Any]:
    """(patient id, clinic code, sex, date of birth, first infusion at) for patients with an infusion."""
    p, s, c = m.Patient, m.InfusionSession, m.Clinic
    first = select(s.patient_id, func.min(s.opened_at).label("first_at")).group_by(s.patient_id).subquery()
    stmt = (
        select(p.id, c.code, p.sex, p.date_of_birth, first.c.first_at)
        .join(first, first.c.patient_id == p.id)
        .join(c, c.id == p.clinic_id)
        .order_by(p.id)
    )
    return list(conn.execute(stmt))


def export_courses(conn: Connection, d: OutcomeDefinitions) -> list[Any]:
    """The depression courses with their outcome flags (one row per plan)."""
    c = courses(d, None)
    tp = m.TreatmentPlan
    stmt = (
        select(
            c.c.patient_id,
            tp.protocol_code,
            c.c.n_induction,
            c.c.first_at,
            c.c.last_induction_at,
            c.c.baseline_total,
            c.c.end_total,
            c.c.end_at,
            c.c.completed,
            c.c.dropped_out,
            c.c.evaluable,
            c.c.response,
            c.c.remission,
        )
        .join(tp, tp.id == c.c.plan_id)
        .order_by(c.c.patient_id)
    )
    return list(conn.execute(stmt))


def export_questionnaires(conn: Connection) -> list[Any]:
    """Every current questionnaire total: patient, instrument, total, answered at, infusion number."""
    qr = current_rows(m.QuestionnaireResponse).subquery()
    s = m.InfusionSession
    stmt = (
        select(qr.c.patient_id, qr.c.instrument, qr.c.total, qr.c.answered_at, s.series_number)
        .outerjoin(s, s.id == qr.c.session_id)
        .where(qr.c.total.is_not(None))
        .order_by(qr.c.patient_id, qr.c.answered_at)
    )
    return list(conn.execute(stmt))


def export_infusions(conn: Connection) -> list[Any]:
    """Every infusion: patient, series number, phase, opened at, dose (mg/kg), side effects, adverse event."""
    s = m.InfusionSession
    do = current_rows(m.DoseOrder).subquery()
    se = current_rows(m.SideEffect).subquery()
    dose = (
        select(do.c.session_id, func.max(do.c.dose_mg_per_kg).label("dose"))
        .group_by(do.c.session_id)
        .subquery()
    )
    effects = (
        select(
            se.c.session_id,
            func.count().label("n"),
            func.max(case((se.c.is_adverse_event, 1), else_=0)).label("adverse"),
        )
        .group_by(se.c.session_id)
        .subquery()
    )
    stmt = (
        select(
            s.patient_id,
            s.series_number,
            s.phase,
            s.opened_at,
            dose.c.dose,
            func.coalesce(effects.c.n, 0),
            func.coalesce(effects.c.adverse, 0),
        )
        .outerjoin(dose, dose.c.session_id == s.id)
        .outerjoin(effects, effects.c.session_id == s.id)
        .order_by(s.patient_id, s.opened_at)
    )
    return list(conn.execute(stmt))
