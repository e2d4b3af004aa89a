"""The psychiatrist's consultation: what is on file, the patient's questions, and screening.

Consent lives in `services.consent`, treatment plans in `services.treatment_plans` and the
course review in `services.course`.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.clinical import (
    Guidance,
    ProtocolSummary,
    ScreeningLevel,
    ScreeningResult,
    list_protocols,
    parse_bp,
    parse_pregnancy_status,
    parse_route,
    screen,
)
from ketaflow.errors import InvalidInput, NotFound, invalid
from ketaflow.services.audit import record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.consent import ConsentText, consent_texts, latest_consents
from ketaflow.services.consult_records import consultations_newest_first, latest_consultation
from ketaflow.services.permissions import Action, allowed, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.store.facts import current
from ketaflow.vocabulary import ConsentKind, RecordStatus

# A data-entry guard against typos (e.g. 4000 for 40), not a clinical threshold: no drinking
# level is judged here; any alcohol use gives the screening list's alcohol finding.
MAX_DRINKS_PER_WEEK = 500
MAX_INDICATION_CHARS = 255
_INACTIVE = {RecordStatus.STOPPED, RecordStatus.RESOLVED, RecordStatus.ENTERED_IN_ERROR}


@dataclass(frozen=True)
class ScreeningInput:
    """What the psychiatrist wrote at the consultation, before it is screened."""

    indication: str = ""
    medications: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    drinks_per_week: float | None = None
    alcohol_on_infusion_day: bool = False
    bp: str = ""
    notes: str = ""
    pregnancy_status: str = ""  # pregnant, possible, test_negative, not_applicable; blank = not asked
    route: str = "iv"

    def substances(self) -> list[str]:
        """Medications plus the alcohol use as lines the screening list recognises."""
        lines = [t.strip() for t in self.medications if t.strip()]
        if self.drinks_per_week:
            lines.append(f"Alcohol: {self.drinks_per_week:g} drinks per week")
        if self.alcohol_on_infusion_day:
            lines.append("Alcohol expected on the infusion day")
        return lines


@dataclass(frozen=True)
class Question:
    id: uuid.UUID
    asked_at: datetime
    text: str
    open: bool  # asked after the latest consultation (not yet brought to one)


@dataclass(frozen=True)
class ConsultationView:
    patient: m.Patient
    clinic: m.Clinic
    weight: m.BodyMeasurement | None
    diagnoses: list[m.Diagnosis]
    medications: list[m.Medication]
    allergies: list[m.Allergy]
    consultations: list[m.Consultation]  # newest first
    questions: list[Question]  # newest first
    consents: dict[ConsentKind, m.Consent | None]  # the latest row per kind
    consent_history: list[m.Consent]
    plans: list[m.TreatmentPlan]
    protocols: list[ProtocolSummary]
    texts: dict[ConsentKind, ConsentText]
    can_consult: bool
    can_consent: bool
    can_plan: bool
    staff_names: dict[uuid.UUID, str] = field(default_factory=dict)
    # Preparation every patient gets (e.g. fasting), from the screening rules, with sources.
    guidance: tuple[Guidance, ...] = ()

    @property
    def open_questions(self) -> list[Question]:
        return [q for q in self.questions if q.open]

    @property
    def latest(self) -> m.Consultation | None:
        return self.consultations[0] if self.consultations else None

    def prefill(self) -> dict[str, str]:
        """The consultation form's starting values from what is on file."""
        return {
            "indication": next((d.description for d in self.diagnoses if d.is_indication), ""),
            "medications": "\n".join(md.as_written for md in self.medications),
            "conditions": "\n".join(d.description for d in self.diagnoses if not d.is_indication),
            "drinks_per_week": "",
            "alcohol_on_infusion_day": "",
            "bp": "",
            "notes": "",
            "pregnancy_status": "",
            "route": "iv",
        }


def load_patient(db: Session, who: CurrentUser, patient_id: uuid.UUID, action: Action) -> m.Patient:
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, action, patient.clinic_id)
    return patient


def _questions(db: Session, patient_id: uuid.UUID, since: datetime | None) -> list[Question]:
    rows = db.scalars(
        current(m.PatientQuestion)
        .where(m.PatientQuestion.patient_id == patient_id)
        .order_by(m.PatientQuestion.asked_at.desc())
    )
    return [
        Question(q.id, q.asked_at, q.text, since is None or q.asked_at > since)
        for q in rows
        if q.text and q.text.strip()
    ]


def consultation_view(db: Session, who: CurrentUser, patient_id: uuid.UUID) -> ConsultationView:
    """Everything the psychiatrist needs at the consultation; the read is audited."""
    patient = load_patient(db, who, patient_id, Action.READ_CLINICAL)
    clinic = db.get(m.Clinic, patient.clinic_id)
    assert clinic is not None

    def history(model: Any, order: Any) -> list[Any]:
        rows = db.scalars(current(model).where(model.patient_id == patient_id).order_by(order))
        return [r for r in rows if getattr(r, "status", None) not in _INACTIVE]

    weight = db.scalars(
        current(m.BodyMeasurement)
        .where(m.BodyMeasurement.patient_id == patient_id)
        .order_by(m.BodyMeasurement.measured_at.desc())
    ).first()
    consultations = list(db.scalars(consultations_newest_first(patient_id)))
    since = consultations[0].held_at if consultations else None
    consents, consent_history = latest_consents(db, patient_id)
    plans = list(
        db.scalars(
            select(m.TreatmentPlan)
            .where(m.TreatmentPlan.patient_id == patient_id)
            .order_by(m.TreatmentPlan.created_at.desc())
        )
    )
    staff_ids = {c.psychiatrist_id for c in consultations} | {c.obtained_by_id for c in consent_history}
    names: dict[uuid.UUID, str] = {}
    if staff_ids:
        query = select(m.StaffUser.id, m.StaffUser.full_name).where(m.StaffUser.id.in_(staff_ids))
        names = dict(db.execute(query).tuples().all())
    view = ConsultationView(
        patient=patient,
        clinic=clinic,
        weight=weight,
        diagnoses=history(m.Diagnosis, m.Diagnosis.recorded_at),
        medications=history(m.Medication, m.Medication.recorded_at),
        allergies=history(m.Allergy, m.Allergy.recorded_at),
        consultations=consultations,
        questions=_questions(db, patient_id, since),
        consents=consents,
        consent_history=consent_history,
        plans=plans,
        protocols=list_protocols(),
        texts=consent_texts(),
        can_consult=allowed(who, Action.CONSULT, patient.clinic_id),
        can_consent=allowed(who, Action.RECORD_CONSENT, patient.clinic_id),
        can_plan=allowed(who, Action.PLAN_TREATMENT, patient.clinic_id),
        staff_names=names,
        guidance=screen().guidance,
    )
    record_read(
        db,
        who.actor(),
        "consultation.read",
        "patient",
        patient_id,
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
    )
    return view


def lines(text: str | None) -> tuple[str, ...]:
    """One entry per non-empty line (medications and conditions are written one per line)."""
    return tuple(t.strip() for t in (text or "").splitlines() if t.strip())


def age_on(born: date, day: date) -> int:
    """Whole years of age on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _checked(form: ScreeningInput, *, need_indication: bool, age_years: int | None = None) -> ScreeningResult:
    """Validate the entry and screen it; raise InvalidInput naming the field at fault."""
    if need_indication and not form.indication.strip():
        raise invalid(
            "indication", "Write the indication for treatment (e.g. treatment-resistant depression)."
        )
    if len(form.indication.strip()) > MAX_INDICATION_CHARS:
        raise invalid(
            "indication", f"Keep the indication under {MAX_INDICATION_CHARS} characters; use the notes."
        )
    drinks = form.drinks_per_week
    if drinks is not None and (not math.isfinite(drinks) or drinks < 0):
        raise invalid(
            "drinks_per_week",
            "Drinks per week must be a number from 0 up; write 0 if the patient does not drink.",
        )
    if drinks is not None and drinks > MAX_DRINKS_PER_WEEK:
        raise invalid(
            "drinks_per_week", f"{drinks:g} drinks per week looks like a typing error; check the number."
        )
    try:
        bp = parse_bp(form.bp.strip()) if form.bp.strip() else None
    except InvalidInput as exc:
        raise invalid("bp", exc.message) from None
    try:
        pregnancy = parse_pregnancy_status(form.pregnancy_status)
    except InvalidInput as exc:
        raise invalid("pregnancy_status", exc.message) from None
    try:
        route = parse_route(form.route)
    except InvalidInput as exc:
        raise invalid("route", exc.message) from None
    return screen(
        conditions=form.conditions,
        medications=form.substances(),
        blood_pressure=bp,
        age_years=age_years,
        pregnancy=pregnancy,
        route=route,
    )


def preview_screening(
    db: Session, who: CurrentUser, patient_id: uuid.UUID, form: ScreeningInput, now: datetime
) -> ScreeningResult:
    """Screen what has been typed so far, saving nothing (for the page's live preview)."""
    patient = load_patient(db, who, patient_id, Action.CONSULT)
    return _checked(form, need_indication=False, age_years=age_on(patient.date_of_birth, now.date()))


def screening_input_dict(form: ScreeningInput, age_years: int | None = None) -> dict[str, object]:
    """What was screened, as stored on the consultation (schema 0003): the inputs as typed."""
    return {
        "medications": list(form.medications),
        "conditions": list(form.conditions),
        "drinks_per_week": form.drinks_per_week,
        "alcohol_on_infusion_day": form.alcohol_on_infusion_day,
        "bp": form.bp.strip() or None,
        "age_years": age_years,
        "pregnancy_status": form.pregnancy_status.strip() or None,
        "route": form.route.strip() or "iv",
    }


def record_consultation(
    db: Session, who: CurrentUser, patient_id: uuid.UUID, form: ScreeningInput, now: datetime
) -> tuple[m.Consultation, ScreeningResult]:
    """Screen and chart the consultation; a contraindication makes the patient not eligible."""
    begin_write(db)
    patient = load_patient(db, who, patient_id, Action.CONSULT)
    age = age_on(patient.date_of_birth, now.date())
    result = _checked(form, need_indication=True, age_years=age)
    previous = latest_consultation(db, patient_id)
    open_questions = [q for q in _questions(db, patient_id, previous.held_at if previous else None) if q.open]
    row = m.Consultation(
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        psychiatrist_id=who.user.id,
        held_at=now,
        indication=form.indication.strip(),
        screening_level=result.level,
        screening_findings=[finding_dict(f) for f in result.findings],
        patient_questions="\n".join(q.text.strip() for q in reversed(open_questions)) or None,
        notes=form.notes.strip() or None,
        screening_input=screening_input_dict(form, age),
        eligible=result.level != ScreeningLevel.CONTRAINDICATED,
        recorded_by_id=who.user.id,
        # recorded_at: the real time of charting (orders same-minute entries; held_at/signed_at
        # are the clinical times).
    )
    db.add(row)
    db.flush()
    record(
        db,
        who.actor(),
        "consultation.record",
        "consultation",
        row.id,
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        details={"screening_level": result.level.value, "eligible": row.eligible},
    )
    db.commit()
    return row, result


def finding_dict(f: object) -> dict[str, str]:
    """A screening finding as stored and sent (level, item, matched, reason, advice, source, rule)."""
    keys = ("level", "item", "matched", "reason", "advice", "source", "rule")
    return {k: str(getattr(f, k)) for k in keys}


def guidance_dict(g: object) -> dict[str, str]:
    """A preparation guidance line as sent (rule, text, source)."""
    return {k: str(getattr(g, k)) for k in ("rule", "text", "source")}
