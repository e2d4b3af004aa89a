"""Depression courses: the per-course CTE, course counts and first responses, dissociation rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    Connection,
    Float,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    select,
)
from sqlalchemy.orm import aliased

from ketaflow.store import models as m
from ketaflow.store.outcome_queries.common import (
    END_OF_INDUCTION_WINDOW_DAYS,
    OPEN_BOOKINGS,
    OutcomeDefinitions,
    built,
    current_phq9,
    current_rows,
    days_between,
    flag,
    responds,
    scope_params,
    scoped,
)


def courses(d: OutcomeDefinitions, clinic_ids: Sequence[uuid.UUID] | None, dialect: str = "sqlite") -> CTE:
    """One row per depression course: counts, dates, baseline and end-of-induction PHQ-9, flags.

    On PostgreSQL the same rows come from :func:`_courses_setwise` (set-based passes).

    Built from per-course lookups (correlated subqueries that read a few rows each through
    the (patient_id, instrument, answered_at) index) rather than window functions over every
    questionnaire: the former reads about ten rows per course, the latter the whole table.
    """
    if dialect == "postgresql":
        return _courses_setwise(d, clinic_ids)
    tp, s = m.TreatmentPlan, m.InfusionSession
    induction = (
        select(
            s.treatment_plan_id.label("plan_id"),
            func.count().label("n_induction"),
            func.min(s.opened_at).label("first_at"),
            func.max(s.opened_at).label("last_induction_at"),
        )
        .where(s.phase == "induction", scoped(s.clinic_id, clinic_ids))
        .group_by(s.treatment_plan_id)
        .subquery()
    )
    b, b_current = current_phq9(tp.patient_id)
    baseline = select(b.total).where(b_current).order_by(b.answered_at, b.id).limit(1).scalar_subquery()
    e, e_current = current_phq9(tp.patient_id)
    end_first = (
        select(e.id)
        .where(
            e_current,
            e.session_id.is_(None),
            e.answered_at >= induction.c.last_induction_at,
            days_between(induction.c.last_induction_at, e.answered_at) <= END_OF_INDUCTION_WINDOW_DAYS,
        )
        .order_by(e.answered_at, e.id)
        .limit(1)
        .scalar_subquery()
    )
    ap = m.Appointment
    booked = exists().where(
        ap.patient_id == tp.patient_id, ap.kind == "infusion", ap.status.in_(OPEN_BOOKINGS)
    )
    n_induction = func.coalesce(induction.c.n_induction, 0)
    stage1 = (
        select(
            tp.id.label("plan_id"),
            tp.patient_id,
            tp.clinic_id,
            tp.planned_infusions,
            n_induction.label("n_induction"),
            induction.c.first_at,
            induction.c.last_induction_at,
            baseline.label("baseline_total"),
            end_first.label("end_id"),
            flag(and_(n_induction < tp.planned_infusions, n_induction > 0, ~booked)).label("dropped_out"),
        )
        .outerjoin(induction, induction.c.plan_id == tp.id)
        .where(tp.protocol_code.in_(d.depression_protocols), scoped(tp.clinic_id, clinic_ids))
        # MATERIALIZED (SQLite 3.35+, PostgreSQL 12+): without it the planner inlines the CTE and
        # re-runs the per-course lookups at every reference (seconds instead of milliseconds).
        .cte("course_base")
        .prefix_with("MATERIALIZED")
    )
    end = aliased(m.QuestionnaireResponse)
    # First PHQ-9 before an induction infusion (after the first) that meets response: one
    # lookup for its id, then joined by primary key for its time and infusion number.
    r, r_current = current_phq9(stage1.c.patient_id)
    s_first = aliased(m.InfusionSession)
    first_id = (
        select(r.id)
        .join(s, s.id == r.session_id)
        .where(
            r_current,
            s.treatment_plan_id == stage1.c.plan_id,
            s.phase == "induction",
            s.series_number > 1,
            responds(stage1.c.baseline_total, r.total, d),
        )
        .order_by(r.answered_at, r.id)
        .limit(1)
        .scalar_subquery()
    )
    with_first = (
        select(
            stage1, end.total.label("end_total"), end.answered_at.label("end_at"), first_id.label("first_id")
        )
        .outerjoin(end, end.id == stage1.c.end_id)
        .subquery()
    )
    hit = aliased(m.QuestionnaireResponse)
    w = with_first.c
    completed = w.n_induction >= w.planned_infusions
    return (
        select(
            w.plan_id,
            w.patient_id,
            w.clinic_id,
            w.n_induction,
            w.first_at,
            w.last_induction_at,
            w.baseline_total,
            w.end_total,
            w.end_at,
            flag(completed).label("completed"),
            w.dropped_out,
            flag(and_(completed, w.end_total.is_not(None))).label("evaluable"),
            flag(and_(completed, responds(w.baseline_total, w.end_total, d))).label("response"),
            flag(and_(completed, w.end_total <= d.remission_max_total)).label("remission"),
            s_first.series_number.label("first_response_series"),
            hit.answered_at.label("first_response_at"),
        )
        .outerjoin(hit, hit.id == w.first_id)
        .outerjoin(s_first, s_first.id == hit.session_id)
        .cte("courses")
        .prefix_with("MATERIALIZED")
    )


def _induction(clinic_ids: Sequence[uuid.UUID] | None) -> Any:
    s = m.InfusionSession
    return (
        select(
            s.treatment_plan_id.label("plan_id"),
            func.count().label("n_induction"),
            func.min(s.opened_at).label("first_at"),
            func.max(s.opened_at).label("last_induction_at"),
        )
        .where(s.phase == "induction", scoped(s.clinic_id, clinic_ids))
        .group_by(s.treatment_plan_id)
        .subquery()
    )


def _phq9_rows() -> Any:
    """Every current PHQ-9 (a new subquery at each use, so the planner can push filters in)."""
    qr = m.QuestionnaireResponse
    return (
        current_rows(qr)
        .where(qr.instrument == "phq9")
        .with_only_columns(qr.id, qr.patient_id, qr.session_id, qr.answered_at, qr.total)
        .subquery()
    )


def _courses_setwise(d: OutcomeDefinitions, clinic_ids: Sequence[uuid.UUID] | None) -> CTE:
    """The rows of :func:`courses`, found by a few set-based passes (PostgreSQL).

    PostgreSQL runs the per-course lookups of :func:`courses` as one index probe per course
    and then hash-joins whole questionnaire tables (measured at 100x: 55 to 66 s). Here each
    PHQ-9 the courses need (baseline, end of induction, first response) is picked by
    DISTINCT ON over a join, with the same order (answered_at, id) and the same conditions.
    """
    tp, s = m.TreatmentPlan, m.InfusionSession
    induction = _induction(clinic_ids)
    first_phq = _phq9_rows()
    baseline = (
        select(first_phq.c.patient_id, first_phq.c.total)
        .distinct(first_phq.c.patient_id)
        .order_by(first_phq.c.patient_id, first_phq.c.answered_at, first_phq.c.id)
        .subquery()
    )
    ap = m.Appointment
    booked = exists().where(
        ap.patient_id == tp.patient_id, ap.kind == "infusion", ap.status.in_(OPEN_BOOKINGS)
    )
    n_induction = func.coalesce(induction.c.n_induction, 0)
    base = (
        select(
            tp.id.label("plan_id"),
            tp.patient_id,
            tp.clinic_id,
            tp.planned_infusions,
            n_induction.label("n_induction"),
            induction.c.first_at,
            induction.c.last_induction_at,
            baseline.c.total.label("baseline_total"),
            flag(and_(n_induction < tp.planned_infusions, n_induction > 0, ~booked)).label("dropped_out"),
        )
        .outerjoin(induction, induction.c.plan_id == tp.id)
        .outerjoin(baseline, baseline.c.patient_id == tp.patient_id)
        .where(tp.protocol_code.in_(d.depression_protocols), scoped(tp.clinic_id, clinic_ids))
        .cte("course_base")
        .prefix_with("MATERIALIZED")
    )
    e = _phq9_rows()
    end = (
        select(base.c.plan_id, e.c.total.label("end_total"), e.c.answered_at.label("end_at"))
        .distinct(base.c.plan_id)
        .join(
            e,
            and_(
                e.c.patient_id == base.c.patient_id,
                e.c.session_id.is_(None),
                e.c.answered_at >= base.c.last_induction_at,
                days_between(base.c.last_induction_at, e.c.answered_at) <= END_OF_INDUCTION_WINDOW_DAYS,
            ),
        )
        .order_by(base.c.plan_id, e.c.answered_at, e.c.id)
        .subquery()
    )
    r = _phq9_rows()
    first = (
        select(
            base.c.plan_id,
            s.series_number.label("first_response_series"),
            r.c.answered_at.label("first_response_at"),
        )
        .distinct(base.c.plan_id)
        .select_from(r)
        .join(s, s.id == r.c.session_id)
        .join(base, and_(base.c.plan_id == s.treatment_plan_id, base.c.patient_id == r.c.patient_id))
        .where(s.phase == "induction", s.series_number > 1, responds(base.c.baseline_total, r.c.total, d))
        .order_by(base.c.plan_id, r.c.answered_at, r.c.id)
        .subquery()
    )
    completed = base.c.n_induction >= base.c.planned_infusions
    return (
        select(
            base.c.plan_id,
            base.c.patient_id,
            base.c.clinic_id,
            base.c.n_induction,
            base.c.first_at,
            base.c.last_induction_at,
            base.c.baseline_total,
            end.c.end_total,
            end.c.end_at,
            flag(completed).label("completed"),
            base.c.dropped_out,
            flag(and_(completed, end.c.end_total.is_not(None))).label("evaluable"),
            flag(and_(completed, responds(base.c.baseline_total, end.c.end_total, d))).label("response"),
            flag(and_(completed, end.c.end_total <= d.remission_max_total)).label("remission"),
            first.c.first_response_series,
            first.c.first_response_at,
        )
        .outerjoin(end, end.c.plan_id == base.c.plan_id)
        .outerjoin(first, first.c.plan_id == base.c.plan_id)
        .cte("courses")
        .prefix_with("MATERIALIZED")
    )


@dataclass(frozen=True)
class CourseCounts:
    """Per clinic: depression courses started, completed, dropped out, evaluable, responding, remitting."""

    clinic_id: uuid.UUID
    started: int
    completed: int
    dropped_out: int
    evaluable: int
    responders: int
    remitters: int


@dataclass(frozen=True)
class CourseSummary:
    """Course counts per clinic and, per clinic and number of infusions, first responses."""

    counts: list[CourseCounts]
    # (clinic, infusions to first response, courses, sum of days, sum of squared days)
    first_responses: list[tuple[uuid.UUID, int, int, float, float]]


def course_summary(
    conn: Connection, d: OutcomeDefinitions, clinic_ids: Sequence[uuid.UUID] | None
) -> CourseSummary:
    """Course counts and first responses in one grouped query (the courses are built once).

    A PHQ-9 answered before infusion k reflects infusions 1 to k-1, so a first response seen
    there counts k - 1 infusions; a response first seen at the end-of-induction PHQ-9 counts
    every induction infusion. Courses that never responded fall in the NULL group.
    """

    def make() -> Select[Any]:
        c = courses(d, clinic_ids, conn.dialect.name)
        end_response = and_(c.c.completed == 1, responds(c.c.baseline_total, c.c.end_total, d))
        infusions = func.coalesce(c.c.first_response_series - 1, case((end_response, c.c.n_induction)))
        days = days_between(
            c.c.first_at, func.coalesce(c.c.first_response_at, case((end_response, c.c.end_at)))
        )
        return (
            select(
                c.c.clinic_id,
                infusions,
                func.count(),
                func.sum(c.c.completed),
                func.sum(c.c.dropped_out),
                func.sum(c.c.evaluable),
                func.sum(c.c.response),
                func.sum(c.c.remission),
                func.sum(days),
                func.sum(days * days),
            )
            .where(c.c.n_induction > 0)
            .group_by(c.c.clinic_id, infusions)
        )

    stmt = built(("course_summary", conn.dialect.name, d, clinic_ids is None), make)
    totals: dict[uuid.UUID, list[int]] = {}
    firsts = []
    for row in conn.execute(stmt, scope_params(clinic_ids)):
        acc = totals.setdefault(row[0], [0] * 6)
        for i, v in enumerate(row[2:8]):
            acc[i] += int(v or 0)
        if row[1] is not None:
            firsts.append((row[0], int(row[1]), int(row[2]), float(row[8] or 0), float(row[9] or 0)))
    counts = [CourseCounts(cid, *v) for cid, v in totals.items()]
    return CourseSummary(counts, firsts)


def course_counts(
    conn: Connection, d: OutcomeDefinitions, clinic_ids: Sequence[uuid.UUID] | None
) -> list[CourseCounts]:
    """Count courses by clinic (started = at least one induction infusion)."""
    return course_summary(conn, d, clinic_ids).counts


def infusions_to_response_histogram(
    conn: Connection, d: OutcomeDefinitions, clinic_ids: Sequence[uuid.UUID] | None
) -> list[tuple[uuid.UUID, int, int, float, float]]:
    """(clinic, infusions to first response, courses, sum of days, sum of squared days), grouped."""
    return course_summary(conn, d, clinic_ids).first_responses


def dissociation_rows(
    conn: Connection, d: OutcomeDefinitions, clinic_ids: Sequence[uuid.UUID] | None, *, infusions: int
) -> list[tuple[float, int, int]]:
    """Per evaluable course with CADSS at each of infusions 1..`infusions`: (mean CADSS, baseline, response).

    This is per-patient data by necessity (the logistic model needs it), one row per course.
    """

    def make() -> Select[Any]:
        c = courses(d, clinic_ids, conn.dialect.name)
        qr = (
            current_rows(m.QuestionnaireResponse)
            .where(m.QuestionnaireResponse.instrument == "cadss")
            .subquery()
        )
        s = m.InfusionSession
        cadss = (
            select(
                s.treatment_plan_id.label("plan_id"),
                func.avg(cast(qr.c.total, Float)).label("mean_cadss"),
                func.count(func.distinct(s.series_number)).label("n"),
            )
            .join(qr, qr.c.session_id == s.id)
            .where(s.series_number <= infusions, s.treatment_plan_id.in_(select(c.c.plan_id)))
            .group_by(s.treatment_plan_id)
            .subquery()
        )
        return (
            select(cadss.c.mean_cadss, c.c.baseline_total, c.c.response)
            .join(cadss, cadss.c.plan_id == c.c.plan_id)
            .where(c.c.evaluable == 1, cadss.c.n == infusions)
            .order_by(c.c.plan_id)
        )

    stmt = built(("dissociation_rows", conn.dialect.name, d, clinic_ids is None, infusions), make)
    return [(float(r[0]), int(r[1]), int(r[2])) for r in conn.execute(stmt, scope_params(clinic_ids))]
