"""The psychiatrist's review of a course: plans, every infusion, and questionnaires by date.

A fixed number of queries whatever the number of infusions: one per kind of fact, each
keyed by the patient's session ids and aggregated in the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaflow.clinical import SeriesOutcome, default_rules, series_outcome
from ketaflow.clinical.scales import max_total
from ketaflow.errors import InvalidInput
from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.consultation import load_patient
from ketaflow.services.permissions import Action
from ketaflow.store import models as m
from ketaflow.store.facts import current
from ketaflow.vocabulary import Instrument


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


def course_view(db: Session, who: CurrentUser, patient_id: uuid.UUID) -> Course:
    """The course review; the read is audited."""
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
                current(m.VitalSign)
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
    course = Course(patient, clinic, plans, infusions, scores)
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
