"""Charting an infusion: the pump, vital signs with alerts, and the predicted drug levels.

Each function is one clinical action in one transaction, checked against the user's
role and clinic, and written to the audit trail. Charted facts are only ever added.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

import ketaflow.clinical as clinical
from ketaflow.clinical.vitals import check_plausible
from ketaflow.errors import Conflict, InvalidInput, NotFound, Problems
from ketaflow.services import corrections
from ketaflow.services.attention import Attention, LatestVitals, OpenRequest, OpenSideEffect, needs_now
from ketaflow.services.audit import record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.permissions import Action, require
from ketaflow.services.session_state import (
    InfusionState,
    PumpRecord,
    check_transition,
    given_mg,
    order_complete,
    state_of,
)
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write, lock_row
from ketaflow.store.facts import current
from ketaflow.store.models.base import ClinicalFact
from ketaflow.vocabulary import AdministrationKind, Instrument, VitalPhase, VitalSource

F = TypeVar("F", bound=ClinicalFact)


@dataclass(frozen=True)
class VitalRow:
    id: uuid.UUID
    measured_at: datetime
    phase: str
    systolic: int | None
    diastolic: int | None
    heart_rate: int | None
    spo2: int | None
    respiratory_rate: int | None
    level: str
    alerts: tuple[str, ...]
    amended: bool
    # The level of each alert, in the same order (e.g. to quote only the pause/stop ones).
    alert_levels: tuple[str, ...] = ()
    sedation: int | None = None  # the sedation scale's level (MOAA/S)
    # What to do now: the level's action (or the recheck for an unconfirmed pause), then each
    # alert's own (e.g. support the airway).
    actions: tuple[str, ...] = ()
    source: str = "manual"  # VitalSource: typed by a nurse, or sent by a monitor


@dataclass(frozen=True)
class PumpEventRow:
    """A pump event as the page lists it, with the reason charted for a pause or stop."""

    kind: AdministrationKind
    at: datetime
    cumulative_mg: float
    reason: str | None


@dataclass(frozen=True)
class InterventionRow:
    id: uuid.UUID
    kind: str
    description: str
    drug_name: str | None
    dose_text: str | None
    given_at: datetime
    side_effect_id: uuid.UUID | None  # the current version of the linked side effect
    side_effect_kind: str | None


@dataclass(frozen=True)
class SessionView:
    session: m.InfusionSession
    patient: m.Patient
    clinic: m.Clinic
    chair_label: str | None
    order: m.DoseOrder | None
    events: list[PumpRecord]
    state: InfusionState
    given_mg: float
    vitals: list[VitalRow]
    side_effects: list[m.SideEffect]
    assistance: list[m.AssistanceRequest]
    comfort: m.ComfortSetting | None
    discharge: m.Discharge | None
    pump_events: list[PumpEventRow] = field(default_factory=list)
    interventions: list[InterventionRow] = field(default_factory=list)
    cadss: list[m.QuestionnaireResponse] = field(default_factory=list)
    # What a pause form could say, from the latest reading's pause/stop alerts ("" if none).
    suggested_pause_reason: str = ""
    # Charted running, but the pump has delivered its whole volume to be infused: chart Stop.
    order_complete: bool = False
    # Everything open that needs a nurse's hand, most urgent first.
    attention: list[Attention] = field(default_factory=list)

    @property
    def open_side_effects(self) -> list[m.SideEffect]:
        return [e for e in self.side_effects if e.resolved_at is None]

    @property
    def open_assistance(self) -> list[m.AssistanceRequest]:
        return [r for r in self.assistance if r.helped_at is None]


def charted_vitals() -> Select[tuple[m.VitalSign]]:
    """SELECT the vital signs as charted and corrected (`current`), less the monitor readings a nurse
    marked as artefact: what the infusion page, the board, the discharge check and every alert count."""
    return current(m.VitalSign).where(m.VitalSign.artefact.is_not(True))


def load_session(db: Session, who: CurrentUser, session_id: uuid.UUID, action: Action) -> m.InfusionSession:
    session = db.get(m.InfusionSession, session_id)
    if session is None:
        raise NotFound("There is no such infusion session.")
    require(who, action, session.clinic_id)
    return session


def _pump_rows(db: Session, session_id: uuid.UUID) -> list[m.AdministrationEvent]:
    return list(
        db.scalars(
            current(m.AdministrationEvent)
            .where(m.AdministrationEvent.session_id == session_id)
            .order_by(m.AdministrationEvent.occurred_at)
        )
    )


def _as_records(rows: list[m.AdministrationEvent]) -> list[PumpRecord]:
    return [
        PumpRecord(AdministrationKind(r.kind), r.occurred_at, r.rate_mg_per_min, r.cumulative_mg)
        for r in rows
    ]


def pump_records(db: Session, session_id: uuid.UUID) -> list[PumpRecord]:
    return _as_records(_pump_rows(db, session_id))


def current_order(db: Session, session_id: uuid.UUID) -> m.DoseOrder | None:
    return db.scalars(
        current(m.DoseOrder)
        .where(m.DoseOrder.session_id == session_id)
        .order_by(m.DoseOrder.ordered_at.desc())
    ).first()


def vital_signs(row: m.VitalSign) -> clinical.VitalSigns:
    bp = None
    if row.systolic_mmhg is not None and row.diastolic_mmhg is not None:
        bp = clinical.BloodPressure(row.systolic_mmhg, row.diastolic_mmhg)
    return clinical.VitalSigns(
        bp=bp,
        heart_rate_per_min=row.heart_rate_bpm,
        spo2_percent=row.spo2_percent,
        respiratory_rate_per_min=row.respiratory_rate_per_min,
        sedation_score=row.sedation_score,
    )


def assess_reading(
    signs: clinical.VitalSigns,
    *,
    phase: VitalPhase | str | None,
    measured_at: datetime,
    earlier: Sequence[m.VitalSign],
    baseline: clinical.VitalSigns | None,
    symptoms_at: Sequence[datetime] = (),
    flag_missing: bool = True,
) -> clinical.VitalAssessment:
    """One reading as the chart assesses it. While the infusion runs: the confirmed-pause rule,
    confirmed by an earlier infusion reading (`earlier`: the session's readings before it) within
    the window or a confirming symptom that began before it (`symptoms_at`: onset times).
    `flag_missing=False` leaves out the alerts for readings not given (a check as the nurse types:
    what is not typed yet is not missing yet)."""
    phase_rules = str(phase) if flag_missing else None
    if phase != VitalPhase.INFUSION:
        return clinical.classify_vitals(signs, baseline=baseline, phase=phase_rules)
    prior = [
        clinical.EarlierReading((measured_at - e.measured_at).total_seconds() / 60, vital_signs(e))
        for e in earlier
        if e.phase == VitalPhase.INFUSION
    ]
    symptoms = any(at <= measured_at for at in symptoms_at)
    return clinical.assess_infusion_reading(
        signs, baseline=baseline, earlier=prior, symptoms=symptoms, phase=phase_rules
    )


def phase_now(events: Sequence[PumpRecord]) -> VitalPhase:
    """The phase a reading charted now belongs to, from the pump's state."""
    state = state_of(list(events), discharged=False)
    return {
        InfusionState.NOT_STARTED: VitalPhase.BASELINE,
        InfusionState.RUNNING: VitalPhase.INFUSION,
        InfusionState.PAUSED: VitalPhase.INFUSION,
    }.get(state, VitalPhase.RECOVERY)


def assess_vitals(rows: list[m.VitalSign], symptoms_at: Sequence[datetime] = ()) -> list[VitalRow]:
    """Each reading with its alert level against the session's own baseline (the first reading).

    A reading charted while the infusion runs follows the confirmed-pause rule: one blood
    pressure at the pause level asks for a recheck; a second one within the window, or a
    confirming symptom charted before it (``symptoms_at``: onset times), pauses. A reading taken
    in a phase where the rules expect a value (SpO2, the sedation level) without it carries the
    alert the rules give for it (`vitals.expected`).
    """
    baseline = vital_signs(rows[0]) if rows else None
    return [_assessed_row(rows, i, baseline, symptoms_at) for i in range(len(rows))]


def _assessed_row(
    rows: list[m.VitalSign], i: int, baseline: clinical.VitalSigns | None, symptoms_at: Sequence[datetime]
) -> VitalRow:
    """Reading `i` of the session's `rows` assessed against the first (`baseline`) and those before it."""
    row = rows[i]
    assessment = assess_reading(
        vital_signs(row),
        phase=row.phase,
        measured_at=row.measured_at,
        earlier=rows[:i],
        baseline=None if i == 0 else baseline,
        symptoms_at=symptoms_at,
    )
    return VitalRow(
        id=row.id,
        measured_at=row.measured_at,
        phase=row.phase,
        systolic=row.systolic_mmhg,
        diastolic=row.diastolic_mmhg,
        heart_rate=row.heart_rate_bpm,
        spo2=row.spo2_percent,
        respiratory_rate=row.respiratory_rate_per_min,
        level=assessment.level.value,
        alerts=tuple(a.message for a in assessment.alerts),
        amended=row.amends_id is not None,
        alert_levels=tuple(a.level.value for a in assessment.alerts),
        sedation=row.sedation_score,
        actions=assessment.actions,
        source=row.source.value if isinstance(row.source, VitalSource) else str(row.source),
    )


def symptom_onsets(db: Session, session_id: uuid.UUID) -> list[datetime]:
    """When side effects that confirm a blood-pressure pause (the rules' list) began in this session."""
    return symptom_onsets_by_session(db, [session_id]).get(session_id, [])


def symptom_onsets_by_session(
    db: Session, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[datetime]]:
    """`symptom_onsets` for several sessions in one query (the chair board): the infusion page
    and the board pass the same onsets to `assess_latest`, so both confirm a pause alike."""
    kinds = clinical.default_rules().vitals.confirmation.symptoms
    out: dict[uuid.UUID, list[datetime]] = {}
    if not session_ids:
        return out
    for sid, onset in db.execute(_SYMPTOM_ONSETS, {"session_ids": list(session_ids), "kinds": list(kinds)}):
        out.setdefault(sid, []).append(onset)
    return out


# Built once (statements are immutable; the values are bound at each call): the board asks on
# every page, and building the statement and its cache key cost about as much as running it.
_SYMPTOM_ONSETS = (
    current(m.SideEffect)
    .with_only_columns(m.SideEffect.session_id, m.SideEffect.onset_at)
    .where(
        m.SideEffect.session_id.in_(bindparam("session_ids", expanding=True)),
        m.SideEffect.kind.in_(bindparam("kinds", expanding=True)),
    )
)


def pre_infusion_refusal(rows: Sequence[m.VitalSign]) -> str | None:
    """The sentence refusing the pump start if the last pre-infusion reading is at the defer level."""
    baseline = [r for r in rows if r.phase == VitalPhase.BASELINE and r.systolic_mmhg and r.diastolic_mmhg]
    if not baseline:
        return None
    last = baseline[-1]
    finding = clinical.pre_infusion_bp(clinical.BloodPressure(last.systolic_mmhg, last.diastolic_mmhg))  # type: ignore[arg-type]
    if finding is None or finding.level.rank < clinical.ScreeningLevel.DEFER.rank:
        return None
    return f"{finding.reason}. {finding.advice}"


def assess_latest(rows: list[m.VitalSign], symptoms_at: Sequence[datetime] = ()) -> VitalRow | None:
    """The latest reading assessed exactly as `assess_vitals` would (against the first reading and
    the infusion readings within the confirmation window), classifying only this one: the chair
    board shows only this one, and no reading's assessment depends on another's."""
    if not rows:
        return None
    if len(rows) == 1:
        return _assessed_row(rows, 0, None, symptoms_at)
    window = clinical.default_rules().vitals.confirmation.window_minutes
    last = rows[-1]
    recent = [r for r in rows[1:-1] if 0 <= (last.measured_at - r.measured_at).total_seconds() / 60 <= window]
    kept = [rows[0], *recent, last]
    return _assessed_row(kept, len(kept) - 1, vital_signs(rows[0]), symptoms_at)


def vitals_summary(row: VitalRow, sep: str = ", ") -> str:
    """What was measured, as the board and the triage write it: "BP 128/82, HR 72, SpO₂ 98%"."""
    parts = [f"BP {row.systolic}/{row.diastolic}"] if row.systolic is not None else []
    parts += [f"HR {row.heart_rate}"] if row.heart_rate is not None else []
    parts += [f"SpO₂ {row.spo2}%"] if row.spo2 is not None else []
    parts += [f"RR {row.respiratory_rate}"] if row.respiratory_rate is not None else []
    return sep.join(parts)


def latest_vitals(row: VitalRow) -> LatestVitals:
    """A reading as the triage shows it: what was measured, its level, alerts and action."""
    return LatestVitals(
        row.measured_at, row.level, vitals_summary(row) or "Vitals", row.alerts, " ".join(row.actions)
    )


def _current_rows(rows: list[F]) -> tuple[list[F], dict[uuid.UUID, F]]:
    """The current rows of one session's facts (none amends them), and each id's current version."""
    newer = {r.amends_id: r for r in rows if r.amends_id is not None}
    latest: dict[uuid.UUID, F] = {}
    for r in rows:
        top = r
        while top.id in newer:
            top = newer[top.id]
        latest[r.id] = top
    return [r for r in rows if r.id not in newer], latest


def _suggested_pause_reason(vitals: list[VitalRow]) -> str:
    if not vitals or vitals[-1].level not in {"pause", "stop"}:
        return ""
    last = vitals[-1]
    bp = f"BP {last.systolic}/{last.diastolic}" if last.systolic is not None else "Vitals"
    serious = [
        a for a, level in zip(last.alerts, last.alert_levels, strict=True) if level in {"pause", "stop"}
    ]
    return f"{bp}: " + " ".join(serious)


def comfort_in_force(db: Session, session_id: uuid.UUID) -> m.ComfortSetting | None:
    """The comfort settings in force: the latest set, ties (same minute) broken by when charted."""
    return db.scalars(
        current(m.ComfortSetting)
        .where(m.ComfortSetting.session_id == session_id)
        .order_by(m.ComfortSetting.set_at.desc(), m.ComfortSetting.recorded_at.desc())
    ).first()


def session_view(db: Session, who: CurrentUser, session_id: uuid.UUID, now: datetime) -> SessionView:
    """Everything the session page shows, in a fixed handful of queries; the read is audited."""
    session = load_session(db, who, session_id, Action.READ_CLINICAL)
    patient, clinic, chair = db.execute(
        select(m.Patient, m.Clinic, m.Chair)
        .select_from(m.InfusionSession)
        .join(m.Patient, m.Patient.id == m.InfusionSession.patient_id)
        .join(m.Clinic, m.Clinic.id == m.InfusionSession.clinic_id)
        .outerjoin(m.Chair, m.Chair.id == m.InfusionSession.chair_id)
        .where(m.InfusionSession.id == session_id)
    ).one()
    pump_rows = _pump_rows(db, session_id)
    events = _as_records(pump_rows)
    vitals = db.scalars(
        charted_vitals().where(m.VitalSign.session_id == session_id).order_by(m.VitalSign.measured_at)
    ).all()
    discharge = db.scalars(current(m.Discharge).where(m.Discharge.session_id == session_id)).first()
    comfort = comfort_in_force(db, session_id)
    # Every version of the side effects (one query): interventions may point at an earlier one.
    side_effects, side_effect_latest = _current_rows(
        list(
            db.scalars(
                select(m.SideEffect)
                .where(m.SideEffect.session_id == session_id)
                .order_by(m.SideEffect.onset_at, m.SideEffect.recorded_at)
            )
        )
    )
    assistance = list(
        db.scalars(
            current(m.AssistanceRequest)
            .where(m.AssistanceRequest.session_id == session_id)
            .order_by(m.AssistanceRequest.asked_at)
        )
    )
    interventions = []
    for i in db.scalars(
        current(m.Intervention)
        .where(m.Intervention.session_id == session_id)
        .order_by(m.Intervention.given_at)
    ):
        linked = side_effect_latest.get(i.side_effect_id) if i.side_effect_id else None
        interventions.append(
            InterventionRow(
                id=i.id,
                kind=str(i.kind),
                description=i.description,
                drug_name=i.drug_name,
                dose_text=i.dose_text,
                given_at=i.given_at,
                side_effect_id=linked.id if linked else None,
                side_effect_kind=str(linked.kind) if linked else None,
            )
        )
    cadss = list(
        db.scalars(
            current(m.QuestionnaireResponse)
            .where(
                m.QuestionnaireResponse.session_id == session_id,
                m.QuestionnaireResponse.instrument == Instrument.CADSS,
            )
            .order_by(m.QuestionnaireResponse.answered_at)
        )
    )
    assessed = assess_vitals(list(vitals), symptom_onsets(db, session_id))
    order = current_order(db, session_id)
    state = state_of(events, discharged=discharge is not None)
    complete = order is not None and discharge is None and order_complete(events, now, vtbi_mg=order.vtbi_mg)
    view = SessionView(
        session=session,
        patient=patient,
        clinic=clinic,
        chair_label=chair.label if chair else None,
        order=order,
        events=events,
        state=state,
        given_mg=0.0 if order is None else given_mg(events, now, vtbi_mg=order.vtbi_mg),
        vitals=assessed,
        side_effects=side_effects,
        assistance=assistance,
        comfort=comfort,
        discharge=discharge,
        pump_events=[
            PumpEventRow(AdministrationKind(r.kind), r.occurred_at, r.cumulative_mg, r.reason)
            for r in pump_rows
        ],
        interventions=interventions,
        cadss=cadss,
        suggested_pause_reason=_suggested_pause_reason(assessed),
        order_complete=complete,
        attention=needs_now(
            state=state,
            latest=latest_vitals(assessed[-1]) if assessed else None,
            requests=[OpenRequest(r.id, r.reason, r.asked_at) for r in assistance if r.helped_at is None],
            side_effects=[
                OpenSideEffect(e.id, e.kind, e.severity, e.onset_at, e.is_adverse_event)
                for e in side_effects
                if e.resolved_at is None
            ],
            order_complete=complete,
            checks_every_min=clinical.default_rules().vitals.monitoring.during_every_minutes,
            started_at=events[0].at if events else None,
            now=now,
        ),
    )
    record_read(
        db,
        who.actor(),
        "session.read",
        "infusion_session",
        session_id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
    )
    return view


PUMP_REASON_MAX = 500


def pump(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    kind: AdministrationKind,
    now: datetime,
    reason: str | None = None,
) -> InfusionState:
    """Chart a pump event (start, pause, resume, stop) at `now` with the drug given so far.

    A pause or stop may carry the reason (e.g. "BP 182/110"), shown with the event.
    """
    reason = (reason or "").strip() or None
    if reason is not None:
        if kind not in {AdministrationKind.PAUSE, AdministrationKind.STOP}:
            raise InvalidInput(
                "A reason is charted with a pause or a stop only; leave it empty to start or resume."
            )
        if len(reason) > PUMP_REASON_MAX:
            raise InvalidInput(f"The reason is too long; keep it under {PUMP_REASON_MAX} characters.")
    begin_write(db)
    session = load_session(db, who, session_id, Action.CHART_INFUSION)
    # One pump change at a time per infusion, and none while a dose is being ordered: on
    # PostgreSQL a second press waits here and sees the first (SQLite: begin_write queues it).
    lock_row(db, m.InfusionSession, session_id)
    events = pump_records(db, session_id)
    discharged = db.scalar(select(m.Discharge.id).where(m.Discharge.session_id == session_id)) is not None
    state = state_of(events, discharged=discharged)
    after = check_transition(state, kind)
    order = current_order(db, session_id)
    if order is None:
        raise InvalidInput(
            "There is no dose order for this infusion yet; the psychiatrist must order the dose first."
        )
    if events and now < events[-1].at:
        raise InvalidInput("A pump event cannot be earlier than the last one charted; check the time.")
    if kind == AdministrationKind.START:
        readings = db.scalars(
            charted_vitals()
            .where(m.VitalSign.session_id == session_id, m.VitalSign.measured_at <= now)
            .order_by(m.VitalSign.measured_at)
        ).all()
        refusal = pre_infusion_refusal(list(readings))
        if refusal is not None:
            raise Conflict(refusal)
    rate_mg_per_min = order.dose_mg / order.duration_min
    so_far = given_mg(events, now, vtbi_mg=order.vtbi_mg)
    running_after = after == InfusionState.RUNNING
    db.add(
        m.AdministrationEvent(
            clinic_id=session.clinic_id,
            session_id=session_id,
            kind=kind,
            occurred_at=now,
            rate_ml_per_h=order.rate_ml_per_h if running_after else None,
            rate_mg_per_min=rate_mg_per_min if running_after else None,
            cumulative_mg=round(so_far, 3),
            reason=reason,
            recorded_by_id=who.user.id,
            recorded_at=now,
        )
    )
    record(
        db,
        who.actor(),
        f"session.{kind.value}",
        "infusion_session",
        session_id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        details={"cumulative_mg": round(so_far, 3), **({"reason": reason} if reason else {})},
    )
    db.commit()
    return after


def checked_vitals(
    bp: str,
    heart_rate: int | None,
    spo2: int | None,
    respiratory_rate: int | None,
    sedation: int | None = None,
) -> clinical.BloodPressure:
    """The typed blood pressure, once every value has passed the checks a charted reading must pass
    (a blood pressure written systolic/diastolic, each value in the range that can be measured).
    Every mistake is told at once, each tagged with its field (InvalidFields)."""
    found = Problems()
    pressure = found.check(lambda: clinical.parse_bp(bp), "bp")
    signs = clinical.VitalSigns(
        bp=pressure,
        heart_rate_per_min=heart_rate,
        spo2_percent=spo2,
        respiratory_rate_per_min=respiratory_rate,
        sedation_score=sedation,
    )
    found.check(lambda: check_plausible(signs))  # before anything is written
    found.raise_any()
    assert pressure is not None
    return pressure


def record_vitals(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    *,
    bp: str,
    heart_rate: int | None,
    spo2: int | None,
    respiratory_rate: int | None,
    now: datetime,
    sedation: int | None = None,
) -> VitalRow:
    """Chart a set of vital signs; return it with its alert level and the recommended actions.

    During the infusion a set without SpO2 or the sedation level is charted (refusing it would
    lose the other readings of that moment and hide their alerts) with the rules' alert for
    each missing one, so the gap shows on the page and the board."""
    begin_write(db)
    session = load_session(db, who, session_id, Action.CHART_INFUSION)
    pressure = checked_vitals(bp, heart_rate, spo2, respiratory_rate, sedation)
    reading = chart_reading(
        db,
        session,
        clinical.VitalSigns(pressure, heart_rate, spo2, respiratory_rate, sedation),
        measured_at=now,
        source=VitalSource.MANUAL,
        recorded_by_id=who.user.id,
        recorded_at=now,
    )
    assessed = assess_charted(db, reading)
    record(
        db,
        who.actor(),
        "vitals.create",
        "infusion_session",
        session_id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        details={"level": assessed.level},
    )
    db.commit()
    return assessed


def chart_reading(
    db: Session,
    session: m.InfusionSession,
    signs: clinical.VitalSigns,
    *,
    measured_at: datetime,
    source: VitalSource,
    recorded_by_id: uuid.UUID | None,
    recorded_at: datetime,
    monitor_id: uuid.UUID | None = None,
    message_control_id: str | None = None,
) -> m.VitalSign:
    """Add a set of vital signs, already checked (`checked_vitals`, or a monitor's values checked
    alike), to the infusion's chart, in the phase the pump was in when they were measured. The
    caller commits."""
    reading = m.VitalSign(
        **vital_sign_row(
            session.clinic_id,
            session.patient_id,
            session.id,
            signs,
            [e for e in pump_records(db, session.id) if e.at <= measured_at],
            measured_at=measured_at,
            source=source,
            recorded_by_id=recorded_by_id,
            recorded_at=recorded_at,
            monitor_id=monitor_id,
            message_control_id=message_control_id,
        )
    )
    db.add(reading)
    db.flush()
    return reading


def vital_sign_row(
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    session_id: uuid.UUID,
    signs: clinical.VitalSigns,
    pump_so_far: Sequence[PumpRecord],
    *,
    measured_at: datetime,
    source: VitalSource,
    recorded_by_id: uuid.UUID | None,
    recorded_at: datetime,
    monitor_id: uuid.UUID | None = None,
    message_control_id: str | None = None,
) -> dict[str, Any]:
    """The column values of a set of vital signs to chart, in the phase the pump was in when they
    were measured (`pump_so_far`: the pump events up to then); the one way a reading is charted,
    typed by a nurse (`chart_reading`) or sent by a monitor (services/monitor_feed.py, which
    inserts many at once). Its id is given now, so it can be assessed before it is written."""
    return {
        "id": uuid.uuid4(),
        "clinic_id": clinic_id,
        "patient_id": patient_id,
        "session_id": session_id,
        "measured_at": measured_at,
        "phase": phase_now(pump_so_far),
        "source": source,
        "systolic_mmhg": signs.bp.systolic_mm_hg if signs.bp else None,
        "diastolic_mmhg": signs.bp.diastolic_mm_hg if signs.bp else None,
        "heart_rate_bpm": _whole(signs.heart_rate_per_min),
        "spo2_percent": _whole(signs.spo2_percent),
        "respiratory_rate_per_min": _whole(signs.respiratory_rate_per_min),
        "sedation_score": signs.sedation_score,
        "recorded_by_id": recorded_by_id,
        "recorded_at": recorded_at,
        "monitor_id": monitor_id,
        "message_control_id": message_control_id,
        "amends_id": None,
    }


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def assess_charted(db: Session, reading: m.VitalSign) -> VitalRow:
    """A reading just charted (flushed), assessed against the infusion's readings measured before it,
    as the infusion page and the board assess it (`assess_latest`). Only what that assessment reads
    is loaded: the infusion's first reading (the baseline) and those within the confirmation window
    before this one, so a monitor sending every few seconds does not reload the whole infusion's
    readings with each one."""
    window = timedelta(minutes=clinical.default_rules().vitals.confirmation.window_minutes)
    session_rows = charted_vitals().where(m.VitalSign.session_id == reading.session_id)
    first = db.scalars(session_rows.order_by(m.VitalSign.measured_at).limit(1)).first()
    recent = db.scalars(
        session_rows.where(
            m.VitalSign.measured_at >= reading.measured_at - window,
            m.VitalSign.measured_at <= reading.measured_at,
        ).order_by(m.VitalSign.measured_at)
    ).all()
    # This reading, assessed against those before it: another request charting on this infusion at
    # the same time may have committed a reading measured later than this one while this one waited.
    earlier = [r for r in dict.fromkeys([*([first] if first else []), *recent]) if r.id != reading.id]
    assert reading.session_id is not None
    assessed = assess_latest([*earlier, reading], symptom_onsets(db, reading.session_id))
    assert assessed is not None  # the reading was just flushed
    return assessed


def correct_vitals(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    vital_id: uuid.UUID,
    *,
    bp: str,
    heart_rate: int | None,
    spo2: int | None,
    respiratory_rate: int | None,
    reason: str,
    now: datetime,
) -> VitalRow:
    """Correct a charted reading (e.g. 182/112 typed for 128/82): a new row amending it, checked as a
    new reading is, and returned classified again (against the session's baseline, which is the
    corrected reading itself when the first reading is corrected). The original stays as charted."""
    begin_write(db)
    original = corrections.fetch(db, m.VitalSign, vital_id, "vital signs reading", session_id=session_id)
    require(who, Action.CORRECT_VITALS, original.clinic_id)
    corrections.claim(db, original, "vital signs reading")
    text = corrections.check_reason(reason)
    pressure = checked_vitals(bp, heart_rate, spo2, respiratory_rate)
    row = corrections.save(
        db,
        who,
        original,
        reason=text,
        patient_id=original.patient_id,
        changes={
            "systolic_mmhg": pressure.systolic_mm_hg,
            "diastolic_mmhg": pressure.diastolic_mm_hg,
            "heart_rate_bpm": heart_rate,
            "spo2_percent": spo2,
            "respiratory_rate_per_min": respiratory_rate,
        },
        now=now,
    )
    rows = db.scalars(
        charted_vitals().where(m.VitalSign.session_id == session_id).order_by(m.VitalSign.measured_at)
    ).all()
    assessed = next(r for r in assess_vitals(list(rows)) if r.id == row.id)
    db.commit()
    return assessed


def mark_artefact(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    vital_id: uuid.UUID,
    *,
    reason: str,
    now: datetime,
) -> None:
    """Mark a monitor's reading as artefact (the probe slipped, the patient moved): an amendment
    with the reason, never a deletion. The reading stays in the chart's history as sent; it no
    longer counts on the infusion page, the board, the alerts or the discharge check. Typed readings
    are corrected instead (`correct_vitals`): the nurse who typed them knows the right values."""
    begin_write(db)
    original = corrections.fetch(db, m.VitalSign, vital_id, "vital signs reading", session_id=session_id)
    require(who, Action.CORRECT_VITALS, original.clinic_id)
    if original.source != VitalSource.MONITOR:
        raise InvalidInput(
            "Only a monitor's reading can be marked as artefact; correct a typed reading instead."
        )
    corrections.claim(db, original, "vital signs reading")
    text = corrections.check_reason(reason)
    corrections.save(
        db, who, original, reason=text, patient_id=original.patient_id, changes={"artefact": True}, now=now
    )
    db.commit()
