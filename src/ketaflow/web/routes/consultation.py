"""Psychiatrist: consultation with screening, consent, treatment plan, course review."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaflow.clinical import ScreeningResult
from ketaflow.errors import Conflict, InvalidInput
from ketaflow.services import consent, course, treatment_plans
from ketaflow.services import consultation as consult
from ketaflow.store import models as m
from ketaflow.web import forms
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who, page
from ketaflow.web.forms import NO_ERRORS, FormErrors

router = APIRouter()


# ---------------------------------------------------------------------------------- pages
# Each form's fields in the page's order: a message about one of them is shown beside it (and the
# field takes the focus); any other refusal is shown at the top of the form.
FORM_FIELDS = {
    "consultation": ["indication", "drinks_per_week", "bp", "pregnancy_status", "route"],
    "consent": ["kind", "status", "signed_at"],
    "plan_edit": ["status", "planned_infusions", "reason"],
    "plan": ["protocol", "planned_infusions", "dose_mg_per_kg", "minutes", "reason"],
}


def _consult_page(
    request: Request,
    db: Db,
    who: Any,
    patient_id: uuid.UUID,
    now: datetime,
    *,
    status_code: int = 200,
    form: str = "",
    typed: dict[str, str] | None = None,
    error: InvalidInput | Conflict | None = None,
    preview: ScreeningResult | None = None,
) -> Response:
    view = consult.consultation_view(db, who, patient_id)
    zone = ZoneInfo(view.clinic.timezone)
    forms: dict[str, dict[str, str]] = {
        "consultation": view.prefill(),
        "consent": {
            "kind": "ketamine_treatment",
            "status": "given",
            "signed_at": now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        },
        "plan": {"protocol": "depression-induction"},
    }
    if form and typed is not None:
        forms[form] = typed
    _, missing = treatment_plans.missing_for_plan(db, patient_id)
    return page(
        request,
        "consultation.html",
        status_code=status_code,
        who=who,
        view=view,
        zone=zone,
        forms=forms,
        errors=FormErrors.of(form, error, fields=FORM_FIELDS.get(form)) if error else NO_ERRORS,
        preview=preview,
        missing=missing,
    )


@router.get("/patients/{patient_id}/consultation", include_in_schema=False)
def consultation_page(request: Request, patient_id: uuid.UUID, db: Db, who: Who, now: Now) -> Response:
    return _consult_page(request, db, who, patient_id, now)


def _screening_input(
    indication: str,
    medications: str,
    conditions: str,
    drinks_per_week: str,
    alcohol_on_infusion_day: str,
    bp: str,
    notes: str,
    pregnancy_status: str = "",
    route: str = "iv",
) -> consult.ScreeningInput:
    return consult.ScreeningInput(
        indication=indication,
        medications=consult.lines(medications),
        conditions=consult.lines(conditions),
        drinks_per_week=forms.number(drinks_per_week, "drinks_per_week", "Drinks per week"),
        alcohol_on_infusion_day=forms.ticked(alcohol_on_infusion_day),
        bp=bp,
        notes=notes,
        pregnancy_status=pregnancy_status,
        route=route,
    )


@router.post("/patients/{patient_id}/consultation", include_in_schema=False)
def consultation_form(
    request: Request,
    patient_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    indication: Annotated[str, Form()] = "",
    medications: Annotated[str, Form()] = "",
    conditions: Annotated[str, Form()] = "",
    drinks_per_week: Annotated[str, Form()] = "",
    alcohol_on_infusion_day: Annotated[str, Form()] = "",
    bp: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
    pregnancy_status: Annotated[str, Form()] = "",
    route: Annotated[str, Form()] = "iv",
) -> Response:
    typed = {
        "indication": indication,
        "medications": medications,
        "conditions": conditions,
        "drinks_per_week": drinks_per_week,
        "alcohol_on_infusion_day": alcohol_on_infusion_day,
        "bp": bp,
        "notes": notes,
        "pregnancy_status": pregnancy_status,
        "route": route,
    }
    try:
        entry = _screening_input(
            indication,
            medications,
            conditions,
            drinks_per_week,
            alcohol_on_infusion_day,
            bp,
            notes,
            pregnancy_status,
            route,
        )
        consult.record_consultation(db, who, patient_id, entry, now)
    except (InvalidInput, Conflict) as exc:
        db.rollback()  # nothing of a refused entry is kept
        return _consult_page(
            request, db, who, patient_id, now, status_code=400, form="consultation", typed=typed, error=exc
        )
    return RedirectResponse(f"/patients/{patient_id}/consultation#latest", status_code=303)


@router.post("/patients/{patient_id}/consent", include_in_schema=False)
def consent_form(
    request: Request,
    patient_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    kind: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "",
    signed_at: Annotated[str, Form()] = "",
    text_version: Annotated[str, Form()] = "",
) -> Response:
    typed = {"kind": kind, "status": status, "signed_at": signed_at, "text_version": text_version}
    try:
        patient = db.get(m.Patient, patient_id)
        clinic = db.get(m.Clinic, patient.clinic_id) if patient else None
        zone = ZoneInfo(clinic.timezone) if clinic else ZoneInfo("UTC")
        consent.record_consent(
            db,
            who,
            patient_id,
            kind=kind,
            status=status,
            signed_at=forms.local_time(signed_at, "signed_at", zone),
            text_version=text_version,
            now=now,
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _consult_page(
            request, db, who, patient_id, now, status_code=400, form="consent", typed=typed, error=exc
        )
    return RedirectResponse(f"/patients/{patient_id}/consultation#consent", status_code=303)


@router.post("/patients/{patient_id}/plan", include_in_schema=False)
def plan_form(
    request: Request,
    patient_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    protocol: Annotated[str, Form()] = "",
    planned_infusions: Annotated[str, Form()] = "",
    dose_mg_per_kg: Annotated[str, Form()] = "",
    minutes: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
) -> Response:
    typed = {
        "protocol": protocol,
        "planned_infusions": planned_infusions,
        "dose_mg_per_kg": dose_mg_per_kg,
        "minutes": minutes,
        "reason": reason,
        "notes": notes,
    }
    try:
        treatment_plans.create_plan(
            db,
            who,
            patient_id,
            protocol=protocol,
            planned_infusions=forms.whole(planned_infusions, "planned_infusions", "Planned infusions"),
            dose_mg_per_kg=forms.number(dose_mg_per_kg, "dose_mg_per_kg", "Target dose (mg/kg)"),
            minutes=forms.number(minutes, "minutes", "Minutes"),
            reason=reason,
            notes=notes,
            now=now,
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _consult_page(
            request, db, who, patient_id, now, status_code=400, form="plan", typed=typed, error=exc
        )
    return RedirectResponse(f"/patients/{patient_id}/consultation#plans", status_code=303)


@router.post("/plans/{plan_id}", include_in_schema=False)
def plan_edit_form(
    request: Request,
    plan_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    version: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "",
    planned_infusions: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    plan = db.get(m.TreatmentPlan, plan_id)
    if plan is None:
        return page(request, "error.html", status_code=404, message="There is no such treatment plan.")
    patient_id = plan.patient_id
    typed = {
        "plan_id": str(plan_id),
        "status": status,
        "planned_infusions": planned_infusions,
        "reason": reason,
    }
    try:
        treatment_plans.edit_plan(
            db,
            who,
            plan_id,
            expected_version=forms.whole(version, "version", "Version") or 0,
            status=status,
            planned_infusions=forms.whole(planned_infusions, "planned_infusions", "Planned infusions"),
            reason=reason,
            now=now,
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        code = 409 if isinstance(exc, Conflict) else 400
        return _consult_page(
            request, db, who, patient_id, now, status_code=code, form="plan_edit", typed=typed, error=exc
        )
    return RedirectResponse(f"/patients/{patient_id}/consultation#plans", status_code=303)


def _trajectory(
    series: course.InstrumentSeries, infusions: list[course.CourseInfusion]
) -> dict[str, Any] | None:
    """Points for a small inline SVG of one questionnaire's totals over time, with infusion ticks."""
    points = [s for s in series.scores if s.total is not None]
    if len(points) < 2:
        return None
    t0, t1 = points[0].answered_at, points[-1].answered_at
    span = max((t1 - t0).total_seconds(), 1.0)
    width, height, top = 720, 150, max(series.top, 1)

    def x(t: datetime) -> float:
        return round(40 + (t - t0).total_seconds() / span * (width - 60), 1)

    def y(total: float) -> float:
        return round(10 + (1 - min(total, top) / top) * (height - 30), 1)

    xy = [(x(p.answered_at), y(p.total or 0)) for p in points]
    return {
        "points": " ".join(f"{a},{b}" for a, b in xy),
        "dots": xy,
        "ticks": [x(i.opened_at) for i in infusions if t0 <= i.opened_at <= t1],
        "grid": [(level, y(level)) for level in (0, top // 2, top)],
        "width": width,
        "height": height,
        "first": points[0],
        "last": points[-1],
    }


def _course_page(
    request: Request,
    db: Db,
    who: Any,
    patient_id: uuid.UUID,
    now: datetime,
    *,
    status_code: int = 200,
    typed: dict[str, str] | None = None,
    error: InvalidInput | None = None,
) -> Response:
    c = course.course_view(db, who, patient_id, now)
    series = c.series()
    zone = ZoneInfo(c.clinic.timezone)
    return page(
        request,
        "course.html",
        status_code=status_code,
        who=who,
        course=c,
        series=series,
        charts={s.instrument: _trajectory(s, c.infusions) for s in series},
        zone=zone,
        check_form=typed or {"done_on": now.astimezone(zone).date().isoformat()},
        error=error.message if error else None,
        error_field=getattr(error, "field", None) if error else None,
    )


@router.get("/patients/{patient_id}/course", include_in_schema=False)
def course_page(request: Request, patient_id: uuid.UUID, db: Db, who: Who, now: Now) -> Response:
    return _course_page(request, db, who, patient_id, now)


@router.post("/patients/{patient_id}/monitoring", include_in_schema=False)
def monitoring_form(
    request: Request,
    patient_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    kind: Annotated[str, Form()] = "",
    done_on: Annotated[str, Form()] = "",
    result: Annotated[str, Form()] = "",
) -> Response:
    typed = {"kind": kind, "done_on": done_on, "result": result}
    try:
        course.record_monitoring_check(
            db,
            who,
            patient_id,
            kind=kind,
            done_on=forms.day(done_on, "done_on", "Done on"),
            result=result,
            now=now,
        )
    except InvalidInput as exc:
        db.rollback()
        return _course_page(request, db, who, patient_id, now, status_code=400, typed=typed, error=exc)
    return RedirectResponse(f"/patients/{patient_id}/course#monitoring", status_code=303)


# ---------------------------------------------------------------------------------- API
class ScreeningIn(BaseModel):
    indication: str = ""
    medications: list[str] = Field(default_factory=list, description="As written, one entry each")
    conditions: list[str] = Field(default_factory=list, description="Medical conditions, one entry each")
    drinks_per_week: float | None = None
    alcohol_on_infusion_day: bool = False
    bp: str = Field("", description="Blood pressure at consultation, e.g. 128/82 (optional)")
    notes: str = ""
    pregnancy_status: str = Field(
        "", description="pregnant, possible, test_negative or not_applicable (blank: not asked)"
    )
    route: str = Field("iv", description="iv (default), im, intranasal, oral or sublingual")

    def entry(self) -> consult.ScreeningInput:
        return consult.ScreeningInput(
            indication=self.indication,
            medications=tuple(t for t in self.medications if t.strip()),
            conditions=tuple(t for t in self.conditions if t.strip()),
            drinks_per_week=self.drinks_per_week,
            alcohol_on_infusion_day=self.alcohol_on_infusion_day,
            bp=self.bp,
            notes=self.notes,
            pregnancy_status=self.pregnancy_status,
            route=self.route,
        )


def _screening_json(result: ScreeningResult) -> dict[str, Any]:
    return {
        "level": result.level.value,
        "findings": [consult.finding_dict(f) for f in result.findings],
        "guidance": [consult.guidance_dict(g) for g in result.guidance],
    }


def _consultation_json(c: m.Consultation) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "held_at": c.held_at.isoformat(),
        "indication": c.indication,
        "screening_level": str(c.screening_level),
        "findings": c.screening_findings,
        "eligible": c.eligible,
        "patient_questions": c.patient_questions,
        "screening_input": c.screening_input,
        "notes": c.notes,
    }


def _consent_json(c: m.Consent) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "kind": str(c.kind),
        "status": str(c.status),
        "text_version": c.text_version,
        "signed_at": c.signed_at.isoformat(),
    }


def _plan_json(p: m.TreatmentPlan) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "protocol": p.protocol_code,
        "planned_infusions": p.planned_infusions,
        "target_dose_mg_per_kg": p.target_dose_mg_per_kg,
        "infusion_minutes": p.infusion_minutes,
        "status": str(p.status),
        "version": p.version,
        "notes": p.notes,
        "override_reason": p.override_reason,
    }


@router.get("/api/patients/{patient_id}/consultation")
def consultation_api(patient_id: uuid.UUID, db: Db, who: Who) -> dict[str, Any]:
    """What the psychiatrist needs at the consultation, with the patient's open questions."""
    v = consult.consultation_view(db, who, patient_id)
    return {
        "patient": {
            "id": str(v.patient.id),
            "mrn": v.patient.mrn,
            "name": f"{v.patient.given_name} {v.patient.family_name}",
        },
        "weight_kg": v.weight.weight_kg if v.weight else None,
        "diagnoses": [d.description for d in v.diagnoses],
        "medications": [md.as_written for md in v.medications],
        "allergies": [a.substance for a in v.allergies],
        "questions": [
            {"id": str(q.id), "asked_at": q.asked_at.isoformat(), "text": q.text, "open": q.open}
            for q in v.questions
        ],
        "consultations": [_consultation_json(c) for c in v.consultations],
        "consents": {k.value: (_consent_json(c) if c else None) for k, c in v.consents.items()},
        "plans": [_plan_json(p) for p in v.plans],
    }


@router.post("/api/patients/{patient_id}/screen")
def screen_api(patient_id: uuid.UUID, body: ScreeningIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Screen what has been typed so far without saving anything (live preview)."""
    return _screening_json(consult.preview_screening(db, who, patient_id, body.entry(), now))


@router.post("/api/patients/{patient_id}/consultation")
def record_consultation_api(
    patient_id: uuid.UUID, body: ScreeningIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Record a consultation: screening findings, eligibility and the patient's open questions."""
    row, result = consult.record_consultation(db, who, patient_id, body.entry(), now)
    return {**_consultation_json(row), **_screening_json(result)}


class ConsentIn(BaseModel):
    kind: str = "ketamine_treatment"
    status: str = Field("given", description="given or withdrawn")
    signed_at: datetime | None = Field(None, description="When the patient signed (ISO 8601, with zone)")
    text_version: str | None = None


@router.post("/api/patients/{patient_id}/consent")
def consent_api(patient_id: uuid.UUID, body: ConsentIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Record consent given (to the current text version) or withdrawn."""
    row = consent.record_consent(
        db,
        who,
        patient_id,
        kind=body.kind,
        status=body.status,
        signed_at=body.signed_at,
        text_version=body.text_version,
        now=now,
    )
    return _consent_json(row)


class PlanIn(BaseModel):
    protocol: str = "depression-induction"
    planned_infusions: int | None = None
    dose_mg_per_kg: float | None = None
    minutes: float | None = None
    reason: str = ""
    notes: str = ""


@router.post("/api/patients/{patient_id}/plan")
def plan_api(patient_id: uuid.UUID, body: PlanIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Set a treatment plan from a protocol (needs an eligible consultation and consent)."""
    plan = treatment_plans.create_plan(
        db,
        who,
        patient_id,
        protocol=body.protocol,
        planned_infusions=body.planned_infusions,
        dose_mg_per_kg=body.dose_mg_per_kg,
        minutes=body.minutes,
        reason=body.reason,
        notes=body.notes,
        now=now,
    )
    return _plan_json(plan)


class PlanEditIn(BaseModel):
    version: int
    status: str | None = Field(None, description="active, completed or stopped")
    planned_infusions: int | None = None
    reason: str = ""


@router.post("/api/plans/{plan_id}")
def plan_edit_api(plan_id: uuid.UUID, body: PlanEditIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Edit a plan's status or planned infusions; a stale version is refused with 409."""
    plan = treatment_plans.edit_plan(
        db,
        who,
        plan_id,
        expected_version=body.version,
        status=body.status,
        planned_infusions=body.planned_infusions,
        reason=body.reason,
        now=now,
    )
    return _plan_json(plan)


def _monitoring_json(i: Any) -> dict[str, Any]:
    return {
        "key": i.key,
        "label": i.label,
        "status": i.status.value,
        "last_done": i.last_done.isoformat() if i.last_done else None,
        "due_on": i.due_on.isoformat() if i.due_on else None,
        "interval_days": i.interval_days,
        "reason": i.reason,
        "source": i.source,
        "interval_source": i.interval_source,
    }


class MonitoringIn(BaseModel):
    kind: str = Field(description="liver_tests or bladder_screen (the clinical rules' monitoring keys)")
    done_on: date | None = Field(None, description="The day the check was done (YYYY-MM-DD)")
    result: str = ""


@router.post("/api/patients/{patient_id}/monitoring")
def monitoring_api(
    patient_id: uuid.UUID, body: MonitoringIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Record a maintenance check done (liver tests, bladder-symptom screening) with its result."""
    row = course.record_monitoring_check(
        db, who, patient_id, kind=body.kind, done_on=body.done_on, result=body.result, now=now
    )
    return {"id": str(row.id), "kind": row.kind, "done_on": row.done_on.isoformat(), "result": row.result}


@router.get("/api/patients/{patient_id}/course")
def course_api(patient_id: uuid.UUID, db: Db, who: Who, now: Now) -> dict[str, Any]:
    """The course: plans, every infusion with dose, limits, side effects, CADSS and BP; scores by date;
    the maintenance checks (liver tests, bladder screening) up to date, due or overdue."""
    c = course.course_view(db, who, patient_id, now)
    return {
        "monitoring": [_monitoring_json(i) for i in c.monitoring],
        "plans": [_plan_json(p) for p in c.plans],
        "infusions": [
            {
                "session_id": str(i.session_id),
                "opened_at": i.opened_at.isoformat(),
                "series_number": i.series_number,
                "phase": str(i.phase),
                "protocol": i.protocol,
                "dose_mg": i.dose_mg,
                "dose_mg_per_kg": i.dose_mg_per_kg,
                "limit_status": i.limit_status,
                "override_reason": i.override_reason,
                "given_mg": i.given_mg,
                "side_effects": i.side_effects,
                "peak_cadss": i.peak_cadss,
                "max_systolic": i.max_systolic,
                "max_diastolic": i.max_diastolic,
            }
            for i in c.infusions
        ],
        "scores": [
            {"instrument": str(s.instrument), "answered_at": s.answered_at.isoformat(), "total": s.total}
            for s in c.scores
        ],
    }
