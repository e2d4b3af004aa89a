"""The psychiatrist's review of a course: plans, every infusion, and questionnaires by date.

A fixed number of queries whatever the number of infusions: one per kind of fact, each
keyed by the patient's session ids and aggregated in the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaflow.clinical import (
    MonitoringItem,
    SeriesOutcome,
    default_rules,
    maintenance_monitoring,
    series_outcome,
)
from ketaflow.clinical.scales import max_total
from ketaflow.errors import InvalidInput, invalid
from ketaflow.services.audit import record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.consultation import load_patient
from ketaflow.services.infusion import charted_vitals
from ketaflow.services.permissions import Action, allowed
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.store.facts import current
from ketaflow.vocabulary import Instrument, PlanStatus, TreatmentPhase


@dataclass(frozen=True)
class CourseInfusion:
    session_id: uuid.UUID
    opened_at: datetime
    series_number: int
    phase: str
    protocol: str | None
    dose_mg: float | None
    dose_mg_per_kg: float | None
    limit_status: str | None
    override_reason: str | None
    given_mg: float | None
    side_effects: int
    peak_cadss: int | None
    max_systolic: int | None
    max_diastolic: int | None


@dataclass(frozen=True)
class Score:
    instrument: str
    answered_at: datetime
    total: int | None
    session_id: uuid.UUID | None


@dataclass(frozen=True)
class InstrumentSeries:
    """One questionnaire over the course, with response and remission by the clinical rules."""

    instrument: str
    name: str
    top: int  # the highest total the instrument can give
    scores: list[Score]
    outcome: SeriesOutcome | None  # None without a completed score


@dataclass(frozen=True)
class Course:
    patient: m.Patient
    clinic: m.Clinic
    plans: list[m.TreatmentPlan]
    infusions: list[CourseInfusion]
    scores: list[Score]  # in time order, every instrument
    # Periodic maintenance checks (liver tests, bladder screening): up to date, due or overdue.
    monitoring: list[MonitoringItem] = field(default_factory=list)
    can_record_check: bool = False

    def series(self) -> list[InstrumentSeries]:
        """Each instrument but CADSS (shown per infusion), in the order first answered."""
        grouped: dict[str, list[Score]] = {}
        for s in self.scores:
            if s.instrument != Instrument.CADSS:
                grouped.setdefault(s.instrument, []).append(s)
        return [_series(key, scores) for key, scores in grouped.items()]


def _series(key: str, scores: list[Score]) -> InstrumentSeries:
    rules = default_rules()
    try:
        inst = rules.instrument(key)
    except InvalidInput:
        inst = rules.instrument(key.split("_")[0])  # e.g. cssrs_screen is the rules' cssrs
    totals = [s.total for s in scores if s.total is not None]
    try:
        outcome = series_outcome(key if key in rules.scales else inst.name, totals) if totals else None
    except InvalidInput:
        outcome = None  # e.g. the C-SSRS screener has no response definition
    return InstrumentSeries(key, inst.name, max_total(inst), scores, outcome)


def _maintenance_since(
    plans: list[m.TreatmentPlan], sessions: list[m.InfusionSession], zone: ZoneInfo
) -> date | None:
    """The day maintenance began: the first maintenance infusion, or an active maintenance plan."""
    rules = default_rules()
    days = [s.opened_at.astimezone(zone).date() for s in sessions if s.phase == TreatmentPhase.MAINTENANCE]
    days += [
        p.created_at.astimezone(zone).date()
        for p in plans
        if p.status == PlanStatus.ACTIVE
        and p.protocol_code in rules.protocols
        and rules.protocols[p.protocol_code].kind == "maintenance"
    ]
    return min(days) if days else None


def _last_checks(db: Session, patient_id: uuid.UUID) -> dict[str, date | None]:
    return dict(
        db.execute(
            current(m.MonitoringCheck)
            .with_only_columns(m.MonitoringCheck.kind, func.max(m.MonitoringCheck.done_on))
            .where(m.MonitoringCheck.patient_id == patient_id)
            .group_by(m.MonitoringCheck.kind)
        )
        .tuples()
        .all()
    )


MONITORING_RESULT_MAX = 500


def record_monitoring_check(
    db: Session,
    who: CurrentUser,
    patient_id: uuid.UUID,
    *,
    kind: str,
    done_on: date | None,
    result: str | None,
    now: datetime,
) -> m.MonitoringCheck:
    """Chart a maintenance check done (liver tests, bladder screening) on a day, with its result."""
    begin_write(db)
    patient = load_patient(db, who, patient_id, Action.RECORD_MONITORING)
    checks = default_rules().monitoring
    if kind not in checks:
        known = ", ".join(sorted(checks))
        raise invalid("kind", f"Unknown check '{kind}'; choose one of: {known}.")
    if done_on is None:
        raise invalid("done_on", "Give the day the check was done (YYYY-MM-DD).")
    clinic = db.get(m.Clinic, patient.clinic_id)
    today = now.astimezone(ZoneInfo(clinic.timezone if clinic else "UTC")).date()
    if done_on > today:
        raise invalid("done_on", f"The day {done_on.isoformat()} is in the future; give the day it was done.")
    if done_on < patient.date_of_birth:
        raise invalid("done_on", "The day is before the patient was born; check the date.")
    text = (result or "").strip() or None
    if text is not None and len(text) > MONITORING_RESULT_MAX:
        raise invalid("result", f"Keep the result under {MONITORING_RESULT_MAX} characters.")
    row = m.MonitoringCheck(
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        kind=kind,
        done_on=done_on,
        result=text,
        recorded_by_id=who.user.id,
        recorded_at=now,
    )
    db.add(row)
    db.flush()
    record(
        db,
        who.actor(),
        "monitoring.record",
        "monitoring_check",
        row.id,
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        details={"kind": kind, "done_on": done_on.isoformat()},
    )
    db.commit()
    return row


def course_view(db: Session, who: CurrentUser, patient_id: uuid.UUID, now: datetime | None = None) -> Course:
    """The course review, with the maintenance checks as of ``now``; the read is audited."""
    patient = load_patient(db, who, patient_id, Action.READ_CLINICAL)
    clinic = db.get(m.Clinic, patient.clinic_id)
    assert clinic is not None
    plans = list(
        db.scalars(
            select(m.TreatmentPlan)
            .where(m.TreatmentPlan.patient_id == patient_id)
            .order_by(m.TreatmentPlan.created_at)
        )
    )
    sessions = db.scalars(
        select(m.InfusionSession)
        .where(m.InfusionSession.patient_id == patient_id)
        .order_by(m.InfusionSession.opened_at)
    ).all()
    ids = [s.id for s in sessions]
    orders: dict[uuid.UUID, m.DoseOrder] = {}
    effects: dict[uuid.UUID, int] = {}
    given: dict[uuid.UUID, float] = {}
    bp: dict[uuid.UUID, tuple[int | None, int | None]] = {}
    if ids:
        for o in db.scalars(
            current(m.DoseOrder).where(m.DoseOrder.session_id.in_(ids)).order_by(m.DoseOrder.ordered_at)
        ):
            orders[o.session_id] = o  # the latest order of each session wins
        effects = dict(
            db.execute(
                current(m.SideEffect)
                .with_only_columns(m.SideEffect.session_id, func.count())
                .where(m.SideEffect.session_id.in_(ids))
                .group_by(m.SideEffect.session_id)
            )
            .tuples()
            .all()
        )
        given = dict(
            db.execute(
                current(m.AdministrationEvent)
                .with_only_columns(
                    m.AdministrationEvent.session_id, func.max(m.AdministrationEvent.cumulative_mg)
                )
                .where(m.AdministrationEvent.session_id.in_(ids))
                .group_by(m.AdministrationEvent.session_id)
            )
            .tuples()
            .all()
        )
        bp = {
            sid: (sys_, dia)
            for sid, sys_, dia in db.execute(
                charted_vitals()
                .with_only_columns(
                    m.VitalSign.session_id,
                    func.max(m.VitalSign.systolic_mmhg),
                    func.max(m.VitalSign.diastolic_mmhg),
                )
                .where(m.VitalSign.session_id.in_(ids))
                .group_by(m.VitalSign.session_id)
            )
        }
    scores = [
        Score(q.instrument, q.answered_at, q.total, q.session_id)
        for q in db.scalars(
            current(m.QuestionnaireResponse)
            .where(m.QuestionnaireResponse.patient_id == patient_id)
            .order_by(m.QuestionnaireResponse.answered_at)
        )
    ]
    cadss: dict[uuid.UUID, int] = {}
    for sc in scores:
        if sc.instrument == Instrument.CADSS and sc.session_id is not None and sc.total is not None:
            cadss[sc.session_id] = max(cadss.get(sc.session_id, sc.total), sc.total)
    infusions = []
    for s in sessions:
        order = orders.get(s.id)
        high = bp.get(s.id, (None, None))
        infusions.append(
            CourseInfusion(
                session_id=s.id,
                opened_at=s.opened_at,
                series_number=s.series_number,
                phase=s.phase,
                protocol=order.protocol_code if order else None,
                dose_mg=order.dose_mg if order else None,
                dose_mg_per_kg=order.dose_mg_per_kg if order else None,
                limit_status=order.limit_status if order else None,
                override_reason=order.override_reason if order else None,
                given_mg=given.get(s.id),
                side_effects=effects.get(s.id, 0),
                peak_cadss=cadss.get(s.id),
                max_systolic=high[0],
                max_diastolic=high[1],
            )
        )
    zone = ZoneInfo(clinic.timezone)
    today = (now or datetime.now(zone)).astimezone(zone).date()
    monitoring = maintenance_monitoring(
        maintenance_since=_maintenance_since(plans, list(sessions), zone),
        last_done=_last_checks(db, patient_id),
        today=today,
    )
    course = Course(
        patient,
        clinic,
        plans,
        infusions,
        scores,
        monitoring,
        can_record_check=allowed(who, Action.RECORD_MONITORING, patient.clinic_id),
    )
    record_read(
        db,
        who.actor(),
        "course.read",
        "patient",
        patient_id,
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
    )
    return course
