"""Recovery and discharge: the readiness checklist, the discharge itself, the after-care sheet.

The criteria and their sources come from `clinical.discharge` (rules file
`clinical/rules/discharge.toml`); this module only gathers what was charted
(the pump's stop, the vital signs, the day's driver) and what the nurse enters.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

import ketaflow.clinical as clinical
from ketaflow.clinical.discharge import (
    Unmet,
    aftercare_instructions,
    evaluate_discharge,
    parse_choice,
    parse_driver,
)
from ketaflow.clinical.rules import ClinicalRules, default_rules
from ketaflow.clinical.schema import ChoiceCriterion
from ketaflow.errors import Conflict, InvalidInput, Problems, invalid
from ketaflow.services import hl7_outbox
from ketaflow.services.audit import record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.controlled import open_draws
from ketaflow.services.infusion import charted_vitals, load_session
from ketaflow.services.permissions import Action, allowed
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write, lock_row
from ketaflow.store.facts import current
from ketaflow.store.versioning import apply_edit
from ketaflow.vocabulary import AdministrationKind, AppointmentStatus, SideEffectKind, VitalPhase

SCORE_KINDS = {"aldrete": "modified Aldrete", "padss": "PADSS"}
PRESENT = "present"  # the suicide-risk screen's positive answer
ASSESSMENT_MAX = 2000

# The checklist in the order the nurse works through it: key, label, input field on the form.
CRITERIA: tuple[tuple[str, str, str], ...] = (
    ("observation", "Observation time since the infusion stopped", ""),
    ("vitals", "Latest vital signs back within limits (vs. baseline)", ""),
    ("sedation", "Alert on the sedation scale (latest vital signs)", ""),
    ("mental_status", "Mental status back to baseline", "mental_status"),
    ("suicidal_ideation", "Repeat suicide-risk screen: no suicidal ideation", "suicidal_ideation"),
    ("recovery_score", "Recovery score (modified Aldrete or PADSS)", "score"),
    ("walking", "Awake and alert, walks steadily with help", "walks_with_help"),
    ("nausea", "Nausea controlled", "nausea"),
    ("driver", "Driver confirmed (or transport arranged)", "driver"),
    ("instructions", "After-care instructions given and explained", "instructions_given"),
    ("controlled", "Ketamine drawn up: all given, the rest wasted before a witness", ""),
)
# Issue 14 (controlled-substance accountability): the remainder of a drawn bag is wasted before a
# witness before the session closes, so no milligram leaves the chair unaccounted for. Clinic
# policy built on the DEA's record-keeping duty for every quantity dispensed (21 CFR 1304.22(c)).
CONTROLLED_SOURCE = "Issue 14; 21 CFR 1304.22(c) (records of each quantity dispensed); clinic policy"


class NotReady(InvalidInput):
    """Discharge refused: every unmet criterion is listed. `chart_flagged`: the check found
    suicidal ideation, which was charted (and flags the chart) although the discharge was not."""

    def __init__(self, unmet: tuple[Unmet, ...], *, chart_flagged: bool = False) -> None:
        items = " ".join(f"({i}) {u.message}" for i, u in enumerate(unmet, 1))
        kept = (
            " The positive suicide-risk screen is charted and flagged on the patient's chart"
            " for the psychiatrist."
            if chart_flagged
            else ""
        )
        super().__init__(f"The patient cannot be discharged yet: {items}{kept}")
        self.unmet = unmet
        self.chart_flagged = chart_flagged


@dataclass(frozen=True)
class DischargeEntries:
    """What the nurse enters or confirms at the bedside (blank = not entered yet)."""

    score_kind: str = "aldrete"
    score: int | None = None
    walks_with_help: bool = False
    nausea: str = ""
    driver: str = ""
    relationship: str = ""
    transport: str = ""
    instructions_given: bool = False
    mental_status: str = ""  # baseline | altered
    suicidal_ideation: str = ""  # none | present (the repeat suicide-risk screen)
    suicide_risk_assessment: str = ""  # the psychiatrist's, when ideation is present


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    field: str
    met: bool
    message: str
    source: str


@dataclass(frozen=True)
class Readiness:
    session: m.InfusionSession
    patient: m.Patient
    clinic: m.Clinic
    appointment: m.Appointment
    stopped_at: datetime | None
    observation_ends_at: datetime | None
    minutes_since_end: float | None
    baseline: m.VitalSign | None
    latest: m.VitalSign | None
    vitals_level: str | None
    entries: DischargeEntries
    criteria: list[Criterion]
    unmet: tuple[Unmet, ...]
    aftercare: tuple[str, ...]
    discharge: m.Discharge | None
    charted_nausea: str | None = None
    may_discharge: bool = False
    may_assess_suicide_risk: bool = False

    @property
    def ready(self) -> bool:
        return not self.unmet and self.discharge is None


def parse_entries(
    *,
    score_kind: str = "aldrete",
    score: str | int | None = None,
    walks_with_help: bool = False,
    nausea: str | None = "",
    driver: str | None = "",
    relationship: str | None = "",
    transport: str | None = "",
    instructions_given: bool = False,
    mental_status: str | None = "",
    suicidal_ideation: str | None = "",
    suicide_risk_assessment: str | None = "",
) -> DischargeEntries:
    """Check the typed values (not the criteria): every bad value at once, each naming its field."""
    found = Problems()
    kind = (score_kind or "aldrete").strip().lower()
    if kind not in SCORE_KINDS:
        found.add("score_kind", f"The recovery score must be Aldrete or PADSS; got {score_kind!r}.")
    value: int | None = None
    if score is None or (isinstance(score, str) and not score.strip()):
        value = None
    elif isinstance(score, int) and not isinstance(score, bool):
        value = score
    else:
        try:
            value = int(str(score).strip())
        except ValueError:
            found.add("score", f"The recovery score must be a whole number; got {score!r}.")
    rules = default_rules().discharge
    cut = rules.aldrete if kind != "padss" else rules.padss
    if value is not None and kind in SCORE_KINDS and not 0 <= value <= cut.max_score:
        found.add("score", f"The {SCORE_KINDS[kind]} score must be 0 to {cut.max_score}; got {value}.")
    feel = (nausea or "").strip().lower()
    if feel and feel not in rules.nausea.choices:
        found.add("nausea", f"Nausea must be one of {', '.join(rules.nausea.choices)}; got {nausea!r}.")
    mind = found.check(lambda: _choice("mental_status", mental_status, rules.mental_status, "Mental status"))
    ideation = found.check(
        lambda: _choice("suicidal_ideation", suicidal_ideation, rules.suicidal_ideation, "Suicidal ideation")
    )
    assessment = (suicide_risk_assessment or "").strip()
    if assessment and ideation != PRESENT and "suicidal_ideation" not in found:
        found.add(
            "suicide_risk_assessment",
            "Write the psychiatrist's suicide-risk assessment only when the screen found suicidal "
            "ideation present; leave it empty otherwise.",
        )
    if len(assessment) > ASSESSMENT_MAX:
        found.add(
            "suicide_risk_assessment",
            f"The assessment is too long; keep it under {ASSESSMENT_MAX} characters.",
        )
    found.raise_any()
    assert mind is not None and ideation is not None
    return DischargeEntries(
        score_kind=kind,
        score=value,
        walks_with_help=bool(walks_with_help),
        nausea=feel,
        driver=(driver or "").strip(),
        relationship=(relationship or "").strip(),
        transport=(transport or "").strip(),
        instructions_given=bool(instructions_given),
        mental_status=mind,
        suicidal_ideation=ideation,
        suicide_risk_assessment=assessment,
    )


def _choice(field: str, value: str | None, rule: ChoiceCriterion, what: str) -> str:
    """A choice criterion's answer ("" when not given); a bad one is refused beside its field."""
    try:
        return parse_choice(value, rule, what) or ""
    except InvalidInput as exc:
        raise invalid(field, exc.message) from None


def _signs(row: m.VitalSign | None) -> clinical.VitalSigns:
    if row is None:
        return clinical.VitalSigns()
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


def clinic_contact(clinic: m.Clinic) -> str:
    """Whom the patient calls, for the after-care text: the clinic's name and phone."""
    return f"{clinic.name} on {clinic.phone}" if clinic.phone else clinic.name


def _prefill(appt: m.Appointment, charted_nausea: str | None) -> DischargeEntries:
    driver = f"{appt.escort_name}, {appt.escort_phone}" if appt.escort_name and appt.escort_phone else ""
    return DischargeEntries(
        driver=driver,
        relationship=appt.escort_relationship or "",
        transport=(appt.transport_arranged or "") if not driver else "",
        nausea=charted_nausea or "",
    )


def _gather(db: Session, session: m.InfusionSession) -> dict[str, Any]:
    stop = db.scalars(
        current(m.AdministrationEvent)
        .where(
            m.AdministrationEvent.session_id == session.id,
            m.AdministrationEvent.kind == AdministrationKind.STOP,
        )
        .order_by(m.AdministrationEvent.occurred_at.desc())
    ).first()
    vitals = list(
        db.scalars(
            charted_vitals().where(m.VitalSign.session_id == session.id).order_by(m.VitalSign.measured_at)
        )
    )
    baseline = next((v for v in vitals if v.phase == VitalPhase.BASELINE), vitals[0] if vitals else None)
    latest = vitals[-1] if vitals else None
    nausea = db.scalars(
        current(m.SideEffect)
        .where(
            m.SideEffect.session_id == session.id,
            m.SideEffect.kind.in_([SideEffectKind.NAUSEA, SideEffectKind.VOMITING]),
            m.SideEffect.resolved_at.is_(None),
        )
        .order_by(m.SideEffect.onset_at.desc())
    ).first()
    discharge = db.scalars(current(m.Discharge).where(m.Discharge.session_id == session.id)).first()
    return {
        "stop": stop,
        "baseline": baseline,
        "latest": latest,
        "charted_nausea": str(nausea.severity) if nausea is not None else None,
        "discharge": discharge,
    }


def _evaluate(
    db: Session,
    session: m.InfusionSession,
    entries: DischargeEntries | None,
    now: datetime,
    rules: ClinicalRules,
    *,
    may_assess: bool,
) -> Readiness:
    patient = db.get(m.Patient, session.patient_id)
    clinic = db.get(m.Clinic, session.clinic_id)
    appt = db.get(m.Appointment, session.appointment_id)
    assert patient is not None and clinic is not None and appt is not None  # foreign keys
    got = _gather(db, session)
    if entries is None:
        entries = _prefill(appt, got["charted_nausea"])
    if entries.suicide_risk_assessment and not may_assess:
        raise invalid(
            "suicide_risk_assessment",
            "Only a psychiatrist can record the suicide-risk assessment that lets a patient with "
            "suicidal ideation go home; ask the psychiatrist to assess the patient now.",
        )
    d = rules.discharge
    stop: m.AdministrationEvent | None = got["stop"]
    latest: m.VitalSign | None = got["latest"]
    baseline: m.VitalSign | None = got["baseline"]
    minutes = None if stop is None else max(0.0, (now - stop.occurred_at).total_seconds() / 60)
    # Only a reading taken after the pump stopped shows whether the patient has recovered.
    recovery_reading = (
        latest if stop is not None and latest is not None and latest.measured_at >= stop.occurred_at else None
    )
    score_args: dict[str, int | None] = {"aldrete": None, "padss": None}
    if entries.score is not None:
        score_args[entries.score_kind] = entries.score
    result = evaluate_discharge(
        # Whole minutes, rounded down: 119.6 minutes is not yet 120.
        minutes_since_end=float(math.floor(minutes)) if minutes is not None else 0.0,
        vitals=_signs(recovery_reading),
        baseline=_signs(baseline) if baseline is not None and baseline is not recovery_reading else None,
        aldrete=score_args["aldrete"],
        padss=score_args["padss"],
        walks_with_help=entries.walks_with_help,
        nausea=entries.nausea or "none",
        driver=entries.driver or None,
        instructions_given=entries.instructions_given,
        mental_status=entries.mental_status or None,
        suicidal_ideation=entries.suicidal_ideation or None,
        suicide_risk_cleared=bool(entries.suicide_risk_assessment) and may_assess,
        clinic_phone=clinic_contact(clinic),
        rules=rules,
    )
    unmet = list(result.unmet)
    if stop is None:
        unmet = [
            replace(
                u,
                message="The infusion has not been stopped; observation starts when the pump is stopped.",
            )
            if u.criterion == "observation"
            else u
            for u in unmet
        ]
    if latest is not None and recovery_reading is None and stop is not None:
        unmet = [
            replace(u, message="Chart a set of vital signs taken after the infusion stopped.")
            if u.criterion == "vitals"
            else u
            for u in unmet
        ]
    if not entries.nausea:
        unmet.append(
            Unmet(
                "nausea", "Record the patient's nausea now (none, mild, moderate or severe).", d.nausea.source
            )
        )
    left = sum((mg for _, mg in open_draws(db, session.id)), Decimal(0))
    if left > 0:
        unmet.append(
            Unmet(
                "controlled",
                f"{left.normalize():f} mg of ketamine drawn up is neither given nor wasted: book what the "
                "pump gave and waste the rest before a witness (controlled substances).",
                CONTROLLED_SOURCE,
            )
        )
    if entries.transport and not parse_driver(entries.driver or None, rules):
        # Transport arranged by name (a cab account, a care home's van) stands in for a driver.
        unmet = [u for u in unmet if u.criterion != "driver"]
    order = [key for key, *_ in CRITERIA]
    unmet.sort(key=lambda u: order.index(u.criterion) if u.criterion in order else len(order))
    score_source = (d.padss if entries.score_kind == "padss" else d.aldrete).source
    sources = {
        "observation": d.min_observation_minutes.source,
        "vitals": d.vitals.source,
        "sedation": d.sedation.source,
        "mental_status": d.mental_status.source,
        "suicidal_ideation": d.suicidal_ideation.source,
        "recovery_score": score_source,
        "walking": d.aldrete.source,
        "nausea": d.nausea.source,
        "driver": d.driver.source,
        "instructions": rules.aftercare.source,
        "controlled": CONTROLLED_SOURCE,
    }
    criteria = []
    for key, label, field_name in CRITERIA:
        mine = [u for u in unmet if u.criterion == key]
        criteria.append(
            Criterion(
                key=key,
                label=label,
                field=field_name,
                met=not mine,
                message=" ".join(u.message for u in mine)
                if mine
                else _met_text(key, minutes, result, entries, recovery_reading, rules),
                source=mine[0].source if mine else sources[key],
            )
        )
    ends = stop.occurred_at + timedelta(minutes=d.min_observation_minutes.value) if stop is not None else None
    return Readiness(
        session=session,
        patient=patient,
        clinic=clinic,
        appointment=appt,
        stopped_at=stop.occurred_at if stop is not None else None,
        observation_ends_at=ends,
        minutes_since_end=minutes,
        baseline=baseline,
        latest=recovery_reading,
        vitals_level=result.vitals_level.value if result.vitals_level is not None else None,
        entries=entries,
        criteria=criteria,
        unmet=tuple(unmet),
        aftercare=aftercare_instructions(clinic_contact(clinic), rules),
        discharge=got["discharge"],
        charted_nausea=got["charted_nausea"],
    )


def _met_text(
    key: str,
    minutes: float | None,
    result: Any,
    entries: DischargeEntries,
    latest: m.VitalSign | None,
    rules: ClinicalRules,
) -> str:
    if key == "observation":
        return f"Observed {minutes or 0:.0f} minutes since the infusion stopped."
    if key == "vitals":
        return f"Latest vitals: {result.vitals_level.value if result.vitals_level else 'charted'}."
    if key == "sedation" and latest is not None and latest.sedation_score is not None:
        scale = rules.vitals.sedation
        return f"{scale.scale} {latest.sedation_score}: {scale.level(latest.sedation_score).wording.lower()}."
    if key == "mental_status":
        return "Back to baseline."
    if key == "suicidal_ideation":
        if entries.suicidal_ideation == PRESENT:
            return f"{rules.discharge.suicidal_ideation.cleared} {entries.suicide_risk_assessment}"
        return "None (screen asked at discharge)."
    if key == "recovery_score":
        return f"{SCORE_KINDS[entries.score_kind]} {entries.score}."
    if key == "nausea":
        return f"Nausea: {entries.nausea}."
    if key == "driver":
        if result.driver is not None:
            return f"{result.driver.name}, {result.driver.phone}."
        return f"Transport: {entries.transport}."
    if key == "controlled":
        return "Nothing drawn up is left unaccounted for."
    return "Done."


def readiness(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    now: datetime,
    entries: DischargeEntries | None = None,
    rules: ClinicalRules | None = None,
) -> Readiness:
    """The checklist for the session as charted, with the nurse's entries (prefilled when None).

    Reading the checklist is a read of the chart; it is audited.
    """
    session = load_session(db, who, session_id, Action.READ_CLINICAL)
    may_assess = allowed(who, Action.ASSESS_SUICIDE_RISK, session.clinic_id)
    view = replace(
        _evaluate(db, session, entries, now, rules or default_rules(), may_assess=may_assess),
        may_discharge=allowed(who, Action.DISCHARGE, session.clinic_id),
        may_assess_suicide_risk=may_assess,
    )
    record_read(
        db,
        who.actor(),
        "discharge.readiness",
        "infusion_session",
        session.id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
    )
    return view


def discharge(
    db: Session,
    who: CurrentUser,
    session_id: uuid.UUID,
    entries: DischargeEntries,
    now: datetime,
    *,
    expected_version: int | None = None,
    rules: ClinicalRules | None = None,
) -> m.Discharge:
    """Discharge the patient when every criterion is met (else NotReady listing each unmet one).

    One transaction: the Discharge row (criteria snapshot, recovery score, driver or
    transport, instructions given, mental status and suicide-risk screen), the appointment
    marked completed, and the audit event.

    Suicidal ideation found by the check is charted on its own (a DischargeScreen row and a
    `discharge.suicide_risk_alert` audit event, which flag the patient's chart) whether or not
    the discharge goes through: a refused discharge keeps that finding and nothing else.
    """
    begin_write(db)
    session = load_session(db, who, session_id, Action.DISCHARGE)
    # Two nurses pressing discharge at once: on PostgreSQL the second waits here and then
    # finds the first one's discharge (on SQLite begin_write already queued it).
    lock_row(db, m.InfusionSession, session.id)
    rules = rules or default_rules()
    may_assess = allowed(who, Action.ASSESS_SUICIDE_RISK, session.clinic_id)
    view = _evaluate(db, session, entries, now, rules, may_assess=may_assess)
    if view.discharge is not None:
        raise Conflict(
            "This patient has already been discharged from this infusion "
            f"(at {view.discharge.discharged_at:%H:%M} UTC); reload the page."
        )
    flagged = entries.suicidal_ideation == PRESENT
    if flagged:
        _chart_positive_screen(db, who, session, entries, now, rules)
    if view.unmet:
        if flagged:
            db.commit()  # the finding stays in the chart; no discharge is written
        raise NotReady(view.unmet, chart_flagged=flagged)
    assert entries.score is not None  # a ready checklist has a recovery score
    who_drives = parse_driver(entries.driver or None, rules)
    snapshot: dict[str, Any] = {
        "criteria": {c.key: {"met": c.met, "detail": c.message, "source": c.source} for c in view.criteria},
        "minutes_since_end": math.floor(view.minutes_since_end or 0.0),
        "stopped_at": view.stopped_at.isoformat() if view.stopped_at else None,
        "vitals_level": view.vitals_level,
        "vitals_id": str(view.latest.id) if view.latest is not None else None,
        "baseline_vitals_id": str(view.baseline.id) if view.baseline is not None else None,
        "nausea": entries.nausea,
        "walks_with_help": entries.walks_with_help,
        "sedation_score": view.latest.sedation_score if view.latest is not None else None,
        "mental_status": entries.mental_status,
        "suicidal_ideation": entries.suicidal_ideation,
    }
    row = m.Discharge(
        clinic_id=session.clinic_id,
        session_id=session.id,
        discharged_at=now,
        discharged_by_id=who.user.id,
        criteria=snapshot,
        recovery_score_kind=entries.score_kind,
        recovery_score=entries.score,
        escort_name=who_drives.name if who_drives else None,
        escort_phone=who_drives.phone if who_drives else None,
        escort_relationship=(entries.relationship or None) if who_drives else None,
        transport_arranged=None if who_drives else entries.transport,
        instructions_given=entries.instructions_given,
        mental_status=entries.mental_status,
        suicidal_ideation=entries.suicidal_ideation,
        suicide_risk_assessment=entries.suicide_risk_assessment or None,
        recorded_by_id=who.user.id,
        recorded_at=now,
    )
    db.add(row)
    appt = view.appointment
    apply_edit(
        db,
        appt,
        expected_version=appt.version if expected_version is None else expected_version,
        status=AppointmentStatus.COMPLETED,
    )
    record(
        db,
        who.actor(),
        "session.discharge",
        "infusion_session",
        session.id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        details={
            "recovery_score": f"{entries.score_kind} {entries.score}",
            "driver": bool(who_drives),
            "suicidal_ideation": entries.suicidal_ideation,
        },
    )
    hl7_outbox.report_discharge(db, session, now)  # RAS^O17 and ADT^A03, when HL7 is sent
    db.commit()
    return row


def _chart_positive_screen(
    db: Session,
    who: CurrentUser,
    session: m.InfusionSession,
    entries: DischargeEntries,
    now: datetime,
    rules: ClinicalRules,
) -> m.DischargeScreen:
    """Chart suicidal ideation found at the discharge check, and its alert for the psychiatrist."""
    rule = rules.discharge.suicidal_ideation
    screen = m.DischargeScreen(
        clinic_id=session.clinic_id,
        session_id=session.id,
        screened_at=now,
        suicidal_ideation=PRESENT,
        mental_status=entries.mental_status or None,
        recorded_by_id=who.user.id,
        recorded_at=now,
    )
    db.add(screen)
    db.flush()
    record(
        db,
        who.actor(),
        "discharge.suicide_risk_alert",
        "discharge_screen",
        screen.id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        details={
            "session_id": str(session.id),
            "instrument": rule.instrument,
            "message": rule.unmet,
            "source": rule.source,
            "assessed_by_psychiatrist": bool(entries.suicide_risk_assessment),
        },
    )
    return screen


@dataclass(frozen=True)
class Aftercare:
    patient: m.Patient
    clinic: m.Clinic
    day: datetime
    driver: str | None
    driver_confirmed: bool
    instructions: tuple[str, ...]


def aftercare(db: Session, who: CurrentUser, session_id: uuid.UUID, now: datetime) -> Aftercare:
    """The printable after-care sheet: the instructions, the clinic to call, who drove the patient.

    Open to everyone who may open the chart: the front desk often hands it over at the door."""
    session = load_session(db, who, session_id, Action.READ_CHART)
    patient = db.get(m.Patient, session.patient_id)
    clinic = db.get(m.Clinic, session.clinic_id)
    appt = db.get(m.Appointment, session.appointment_id)
    assert patient is not None and clinic is not None and appt is not None  # foreign keys
    done = db.scalars(current(m.Discharge).where(m.Discharge.session_id == session.id)).first()
    if done is not None:
        driver = _driver_text(
            done.escort_name, done.escort_phone, done.escort_relationship, done.transport_arranged
        )
    else:
        driver = _driver_text(
            appt.escort_name, appt.escort_phone, appt.escort_relationship, appt.transport_arranged
        )
    record_read(
        db,
        who.actor(),
        "discharge.aftercare",
        "infusion_session",
        session.id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
    )
    return Aftercare(
        patient=patient,
        clinic=clinic,
        day=done.discharged_at if done is not None else now,
        driver=driver,
        driver_confirmed=done is not None,
        instructions=aftercare_instructions(
            f"{clinic.name} on {clinic.phone}" if clinic.phone else clinic.name
        ),
    )


def _driver_text(
    name: str | None, phone: str | None, relationship: str | None, transport: str | None
) -> str | None:
    if name:
        rel = f" ({relationship})" if relationship else ""
        return f"{name}{rel}, {phone}" if phone else f"{name}{rel}"
    return f"Transport: {transport}" if transport else None
