"""Outcome queries: SELECTs that aggregate in the database for the outcomes dashboard.

Every query reads the current (amended) view of clinical facts (rows no later row
amends, as :func:`ketaflow.store.facts.current`), takes an optional list of clinic ids
(None = the whole network) and groups by clinic, so one call serves a clinic page and
the network page (network figures are sums of the clinics' counts). They run on SQLite
and PostgreSQL alike; the only dialect-specific piece is the day difference below.

A *course* is one treatment plan on a depression protocol: its induction infusions, the
patient's baseline PHQ-9 (their first) and the end-of-induction PHQ-9 (the first PHQ-9
charted outside an infusion, at or after the last induction infusion and within
``END_OF_INDUCTION_WINDOW_DAYS`` of it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Float,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement

from ketaflow.store import models as m

# How long after the last induction infusion a home PHQ-9 still counts as the end-of-induction
# measure. The demo asks for it after 7 days; 28 days is our choice (no source), wide enough
# for a late answer, short enough not to take a PHQ-9 from months later.
END_OF_INDUCTION_WINDOW_DAYS = 28
# Bookings that mean a series is still going on (not a drop-out).
_OPEN_BOOKINGS = ("booked", "checked_in", "in_chair")
_EPS = 1e-9  # the clinical rules' own tolerance when comparing a reduction to its threshold


class days_between(FunctionElement[float]):  # noqa: N801 - reads as a SQL function
    """Days (fractional) from the first timestamp to the second, on SQLite and PostgreSQL."""

    type = Float()
    inherit_cache = True


@compiles(days_between)
def _days_between_default(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"(EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)})) / 86400.0)"
    )


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"(julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)}))"


@dataclass(frozen=True)
class OutcomeDefinitions:
    """What the clinical rules say response and remission are, passed in by the service."""

    depression_protocols: tuple[str, ...]
    min_reduction_fraction: float  # response: a fall of at least this fraction from baseline
    remission_max_total: int  # remission: PHQ-9 at or below this


def _not_amended(model: type[Any], row: Any) -> ColumnElement[bool]:
    """`row` is current: no row of `model` amends it (the view of ketaflow.store.facts.current).

    Written as NOT IN over the (few) amends_id values rather than a correlated NOT EXISTS:
    SQLite evaluates it once, whatever the planner's statistics say. After ANALYZE on a
    database with no amendments, SQLite judges the amends_id index useless and runs a
    correlated NOT EXISTS as a full table scan per row (minutes instead of milliseconds).
    """
    newer = aliased(model)
    condition: ColumnElement[bool] = row.id.not_in(
        select(newer.amends_id).where(newer.amends_id.is_not(None))
    )
    return condition


def _current(model: type[Any]) -> Select[Any]:
    """SELECT the current rows of `model` (as :func:`ketaflow.store.facts.current`)."""
    return select(model).where(_not_amended(model, model))


def _scoped(column: Any, clinic_ids: Sequence[uuid.UUID] | None) -> ColumnElement[bool]:
    return literal(True) if clinic_ids is None else column.in_(list(clinic_ids))


def _responds(baseline: Any, later: Any, d: OutcomeDefinitions) -> ColumnElement[bool]:
    return and_(
        later.is_not(None),
        baseline > 0,
        cast(baseline - later, Float) >= d.min_reduction_fraction * cast(baseline, Float) - _EPS,
    )


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _current_phq9(patient_id: Any) -> tuple[Any, ColumnElement[bool]]:
    """An alias of questionnaire_responses and the filter: this patient's current PHQ-9 rows."""
    qr = aliased(m.QuestionnaireResponse)
    return qr, and_(
        qr.patient_id == patient_id,
        qr.instrument == "phq9",
        _not_amended(m.QuestionnaireResponse, qr),
    )


def courses(d: OutcomeDefinitions, clinic_ids: Sequence[uuid.UUID] | None) -> CTE:
    """One row per depression course: counts, dates, baseline and end-of-induction PHQ-9, flags.

    Built from per-course lookups (correlated subqueries that read a few rows each through
    the (patient_id, instrument, answered_at) index) rather than window functions over every
    questionnaire: the former reads about ten rows per course, the latter the whole table.
    """
    tp, s = m.TreatmentPlan, m.InfusionSession
    induction = (
        select(
            s.treatment_plan_id.label("plan_id"),
            func.count().label("n_induction"),
            func.min(s.opened_at).label("first_at"),
            func.max(s.opened_at).label("last_induction_at"),
        )
        .where(s.phase == "induction", _scoped(s.clinic_id, clinic_ids))
        .group_by(s.treatment_plan_id)
        .subquery()
    )
    b, b_current = _current_phq9(tp.patient_id)
    baseline = select(b.total).where(b_current).order_by(b.answered_at, b.id).limit(1).scalar_subquery()
    e, e_current = _current_phq9(tp.patient_id)
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
        ap.patient_id == tp.patient_id, ap.kind == "infusion", ap.status.in_(_OPEN_BOOKINGS)
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
            _flag(and_(n_induction < tp.planned_infusions, n_induction > 0, ~booked)).label("dropped_out"),
        )
        .outerjoin(induction, induction.c.plan_id == tp.id)
        .where(tp.protocol_code.in_(d.depression_protocols), _scoped(tp.clinic_id, clinic_ids))
        # MATERIALIZED (SQLite 3.35+, PostgreSQL 12+): without it the planner inlines the CTE and
        # re-runs the per-course lookups at every reference (seconds instead of milliseconds).
        .cte("course_base")
        .prefix_with("MATERIALIZED")
    )
    end = aliased(m.QuestionnaireResponse)
    # First PHQ-9 before an induction infusion (after the first) that meets response: one
    # lookup for its id, then joined by primary key for its time and infusion number.
    r, r_current = _current_phq9(stage1.c.patient_id)
    s_first = aliased(m.InfusionSession)
    first_id = (
        select(r.id)
        .join(s, s.id == r.session_id)
        .where(
            r_current,
            s.treatment_plan_id == stage1.c.plan_id,
            s.phase == "induction",
            s.series_number > 1,
            _responds(stage1.c.baseline_total, r.total, d),
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
            _flag(completed).label("completed"),
            w.dropped_out,
            _flag(and_(completed, w.end_total.is_not(None))).label("evaluable"),
            _flag(and_(completed, _responds(w.baseline_total, w.end_total, d))).label("response"),
            _flag(and_(completed, w.end_total <= d.remission_max_total)).label("remission"),
            s_first.series_number.label("first_response_series"),
            hit.answered_at.label("first_response_at"),
        )
        .outerjoin(hit, hit.id == w.first_id)
        .outerjoin(s_first, s_first.id == hit.session_id)
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
    c = courses(d, clinic_ids)
    end_response = and_(c.c.completed == 1, _responds(c.c.baseline_total, c.c.end_total, d))
    infusions = func.coalesce(c.c.first_response_series - 1, case((end_response, c.c.n_induction)))
    days = days_between(c.c.first_at, func.coalesce(c.c.first_response_at, case((end_response, c.c.end_at))))
    stmt = (
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
    totals: dict[uuid.UUID, list[int]] = {}
    firsts = []
    for row in conn.execute(stmt):
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


def infusion_counts(
    conn: Connection, clinic_ids: Sequence[uuid.UUID] | None
) -> dict[uuid.UUID, tuple[int, int]]:
    """Per clinic: (patients with at least one infusion, infusions), every protocol."""
    s = m.InfusionSession
    stmt = (
        select(s.clinic_id, func.count(func.distinct(s.patient_id)), func.count())
        .where(_scoped(s.clinic_id, clinic_ids))
        .group_by(s.clinic_id)
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(stmt)}


def side_effect_counts(
    conn: Connection, clinic_ids: Sequence[uuid.UUID] | None
) -> list[tuple[uuid.UUID, str, int, int]]:
    """Per clinic and kind: (infusions with that side effect, infusions where it was an adverse event)."""
    se = _current(m.SideEffect).where(_scoped(m.SideEffect.clinic_id, clinic_ids)).subquery()
    stmt = select(
        se.c.clinic_id,
        se.c.kind,
        func.count(func.distinct(se.c.session_id)),
        func.count(func.distinct(case((se.c.is_adverse_event, se.c.session_id)))),
    ).group_by(se.c.clinic_id, se.c.kind)
    return [(r[0], str(r[1]), int(r[2]), int(r[3])) for r in conn.execute(stmt)]


def adverse_event_infusions(conn: Connection, clinic_ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, int]:
    """Per clinic: infusions with at least one adverse event."""
    se = _current(m.SideEffect).where(_scoped(m.SideEffect.clinic_id, clinic_ids)).subquery()
    stmt = (
        select(se.c.clinic_id, func.count(func.distinct(se.c.session_id)))
        .where(se.c.is_adverse_event)
        .group_by(se.c.clinic_id)
    )
    return {r[0]: int(r[1]) for r in conn.execute(stmt)}


def blood_pressure_pauses(conn: Connection, clinic_ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, int]:
    """Per clinic: infusions paused with hypertension charted in the same infusion.

    A pause event carries no reason in the data model, so "paused for blood pressure" is
    read as a pause and a hypertension side effect in the same session.
    """
    ev = _current(m.AdministrationEvent).where(m.AdministrationEvent.kind == "pause").subquery()
    se = _current(m.SideEffect).where(m.SideEffect.kind == "hypertension").subquery()
    stmt = (
        select(ev.c.clinic_id, func.count(func.distinct(ev.c.session_id)))
        .where(_scoped(ev.c.clinic_id, clinic_ids), exists().where(se.c.session_id == ev.c.session_id))
        .group_by(ev.c.clinic_id)
    )
    return {r[0]: int(r[1]) for r in conn.execute(stmt)}


def recovery_minutes_sums(
    conn: Connection, clinic_ids: Sequence[uuid.UUID] | None
) -> dict[uuid.UUID, tuple[int, float, float]]:
    """Per clinic: (n, sum, sum of squares) of minutes from the pump's (last) stop to discharge.

    The current stop events and discharges are stacked (UNION ALL) and grouped by session:
    two sequential scans and one aggregation, with no per-row index probes (which cost
    seconds on PostgreSQL and most of the time on SQLite).
    """
    ev, dc = m.AdministrationEvent, m.Discharge
    stops = _current(ev).where(ev.kind == "stop", _scoped(ev.clinic_id, clinic_ids))
    discharges = _current(dc).where(_scoped(dc.clinic_id, clinic_ids))
    stacked = union_all(
        stops.with_only_columns(
            ev.session_id, ev.clinic_id, ev.occurred_at.label("stopped_at"), null().label("discharged_at")
        ),
        discharges.with_only_columns(dc.session_id, dc.clinic_id, null(), dc.discharged_at),
    ).subquery()
    per = (
        select(
            stacked.c.clinic_id,
            func.max(stacked.c.stopped_at).label("stopped_at"),
            func.max(stacked.c.discharged_at).label("discharged_at"),
        )
        .group_by(stacked.c.session_id, stacked.c.clinic_id)
        .subquery()
    )
    minutes = days_between(per.c.stopped_at, per.c.discharged_at) * 1440.0
    stmt = (
        select(per.c.clinic_id, func.count(), func.sum(minutes), func.sum(minutes * minutes))
        .where(per.c.stopped_at.is_not(None), per.c.discharged_at.is_not(None))
        .group_by(per.c.clinic_id)
    )
    return {r[0]: (int(r[1]), float(r[2] or 0), float(r[3] or 0)) for r in conn.execute(stmt)}


def dissociation_rows(
    conn: Connection, d: OutcomeDefinitions, clinic_ids: Sequence[uuid.UUID] | None, *, infusions: int
) -> list[tuple[float, int, int]]:
    """Per evaluable course with CADSS at each of infusions 1..`infusions`: (mean CADSS, baseline, response).

    This is per-patient data by necessity (the logistic model needs it), one row per course.
    """
    c = courses(d, clinic_ids)
    qr = _current(m.QuestionnaireResponse).where(m.QuestionnaireResponse.instrument == "cadss").subquery()
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
    stmt = (
        select(cadss.c.mean_cadss, c.c.baseline_total, c.c.response)
        .join(cadss, cadss.c.plan_id == c.c.plan_id)
        .where(c.c.evaluable == 1, cadss.c.n == infusions)
        .order_by(c.c.plan_id)
    )
    return [(float(r[0]), int(r[1]), int(r[2])) for r in conn.execute(stmt)]


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
    qr = _current(m.QuestionnaireResponse).where(m.QuestionnaireResponse.patient_id == patient_id).subquery()
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
    qr = _current(m.QuestionnaireResponse).subquery()
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
    do = _current(m.DoseOrder).subquery()
    se = _current(m.SideEffect).subquery()
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
