"""Recovery and discharge: the checklist, the discharge itself, printable after-care."""

import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaflow.clinical.rules import default_rules
from ketaflow.errors import Conflict, InvalidInput, invalid
from ketaflow.services import discharge as service
from ketaflow.web import forms
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who, page

router = APIRouter()


def _form_of(entries: service.DischargeEntries) -> dict[str, Any]:
    return {
        "score_kind": entries.score_kind,
        "score": "" if entries.score is None else str(entries.score),
        "walks_with_help": entries.walks_with_help,
        "nausea": entries.nausea,
        "driver": entries.driver,
        "relationship": entries.relationship,
        "transport": entries.transport,
        "instructions_given": entries.instructions_given,
        "mental_status": entries.mental_status,
        "suicidal_ideation": entries.suicidal_ideation,
        "suicide_risk_assessment": entries.suicide_risk_assessment,
    }


def _discharge_page(
    request: Request,
    db: Db,
    who: Any,
    session_id: uuid.UUID,
    now: Any,
    *,
    entries: service.DischargeEntries | None = None,
    form: dict[str, Any] | None = None,
    errors: forms.FormErrors = forms.NO_ERRORS,
    status_code: int = 200,
) -> Response:
    view = service.readiness(db, who, session_id, now, entries)
    return page(
        request,
        "discharge.html",
        status_code=status_code,
        who=who,
        view=view,
        now=now,
        zone=ZoneInfo(view.clinic.timezone),
        form=form if form is not None else _form_of(view.entries),
        errors=errors,
        score_kinds=service.SCORE_KINDS,
        nausea_choices=_nausea_choices(),
        rules=default_rules(),
    )


def _nausea_choices() -> list[str]:
    return list(default_rules().discharge.nausea.choices)


@router.get("/sessions/{session_id}/discharge", include_in_schema=False)
def discharge_page(request: Request, session_id: uuid.UUID, db: Db, who: Who, now: Now) -> Response:
    return _discharge_page(request, db, who, session_id, now)


def _score(text: str, field: str, label: str) -> int | None:
    try:
        return forms.whole(text, field, label)
    except InvalidInput:
        raise invalid(field, f"{label} must be a whole number; got {text.strip()!r}.") from None


class DischargeIn(BaseModel):
    score_kind: str = Field("aldrete", description="aldrete (modified Aldrete) or padss")
    score: Annotated[int | None, forms.reading(_score, "The recovery score")] = Field(
        None, description="The recovery score, 0-10"
    )
    walks_with_help: bool = Field(False, description="Awake and alert, walks steadily with help")
    nausea: str = Field("", description="none, mild, moderate or severe")
    driver: str = Field("", description='Who drives the patient home, with phone: "Dana Reyes, 555-0100"')
    relationship: str = ""
    transport: str = Field("", description="Arranged transport, when there is no driver")
    instructions_given: bool = False
    mental_status: str = Field("", description="baseline (back to the patient's own) or altered")
    suicidal_ideation: str = Field(
        "",
        description="none or present: the repeat suicide-risk screen at discharge (C-SSRS screener "
        "questions 1-2 about today; the questions are in GET's suicide_risk_screen). Present is charted "
        "and flags the chart even when the discharge is refused",
    )
    suicide_risk_assessment: str = Field(
        "",
        description="The psychiatrist's assessment when ideation is present; only a psychiatrist may "
        "give it, and only with it can a patient with ideation present be discharged",
    )
    version: Annotated[int | None, forms.as_whole("The form's version")] = Field(
        None, description="The appointment's version (from GET), to refuse a stale form"
    )

    def entries(self) -> service.DischargeEntries:
        return service.parse_entries(**self.model_dump(exclude={"version"}))

    def check(self) -> None:
        """The checks that need no database (forms.read runs them with a field it cannot read)."""
        self.entries()


@router.post("/sessions/{session_id}/discharge", include_in_schema=False)
def discharge_form(
    request: Request, session_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    typed: dict[str, Any] = {
        **{k: v for k, v in posted.items() if k not in {"csrf", "version"}},
        "walks_with_help": forms.ticked(posted.get("walks_with_help")),
        "instructions_given": forms.ticked(posted.get("instructions_given")),
    }
    entries: service.DischargeEntries | None = None
    try:
        body = forms.read(DischargeIn, posted)
        entries = body.entries()
        service.discharge(db, who, session_id, entries, now, expected_version=body.version)
    except (InvalidInput, Conflict) as exc:
        db.rollback()  # nothing of a refused discharge is kept
        errors = forms.FormErrors.of("discharge", exc, fields=DischargeIn.model_fields)
        return _discharge_page(
            request,
            db,
            who,
            session_id,
            now,
            entries=entries,
            form={**_form_of(service.parse_entries()), **typed},
            errors=errors,
            status_code=400,
        )
    return RedirectResponse(f"/sessions/{session_id}/discharge", status_code=303)


@router.get("/sessions/{session_id}/aftercare", include_in_schema=False)
def aftercare_page(request: Request, session_id: uuid.UUID, db: Db, who: Who, now: Now) -> Response:
    sheet = service.aftercare(db, who, session_id, now)
    return page(
        request,
        "aftercare.html",
        who=who,
        sheet=sheet,
        session_id=session_id,
        zone=ZoneInfo(sheet.clinic.timezone),
    )


def _readiness_json(view: service.Readiness) -> dict[str, Any]:
    screen = default_rules().discharge.suicidal_ideation

    def at(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    def vitals(row: Any) -> dict[str, Any] | None:
        if row is None:
            return None
        return {
            "measured_at": row.measured_at.isoformat(),
            "bp": f"{row.systolic_mmhg}/{row.diastolic_mmhg}" if row.systolic_mmhg is not None else None,
            "heart_rate": row.heart_rate_bpm,
            "spo2": row.spo2_percent,
            "respiratory_rate": row.respiratory_rate_per_min,
            "sedation": row.sedation_score,
        }

    done = view.discharge
    return {
        "session_id": str(view.session.id),
        "patient": {"id": str(view.patient.id), "mrn": view.patient.mrn},
        "ready": view.ready,
        "may_discharge": view.may_discharge,
        "discharged": None
        if done is None
        else {
            "at": done.discharged_at.isoformat(),
            "recovery_score": f"{done.recovery_score_kind} {done.recovery_score}",
            "driver": done.escort_name,
            "transport": done.transport_arranged,
            "mental_status": done.mental_status,
            "suicidal_ideation": done.suicidal_ideation,
            "suicide_risk_assessment": done.suicide_risk_assessment,
        },
        "stopped_at": at(view.stopped_at),
        "observation_ends_at": at(view.observation_ends_at),
        "minutes_since_end": None if view.minutes_since_end is None else round(view.minutes_since_end, 1),
        "baseline_vitals": vitals(view.baseline),
        "latest_vitals": vitals(view.latest),
        "vitals_level": view.vitals_level,
        "entries": _form_of(view.entries),
        "appointment_version": view.appointment.version,
        "criteria": [
            {"criterion": c.key, "label": c.label, "met": c.met, "message": c.message, "source": c.source}
            for c in view.criteria
        ],
        "unmet": [{"criterion": u.criterion, "message": u.message, "source": u.source} for u in view.unmet],
        "suicide_risk_screen": {
            "instrument": screen.instrument,
            "questions": list(screen.questions),
            "source": screen.source,
        },
        "may_assess_suicide_risk": view.may_assess_suicide_risk,
        "aftercare": list(view.aftercare),
    }


@router.get("/api/sessions/{session_id}/discharge")
def readiness_api(
    session_id: uuid.UUID,
    db: Db,
    who: Who,
    now: Now,
    score_kind: str | None = None,
    score: str | None = None,
    walks_with_help: bool | None = None,
    nausea: str | None = None,
    driver: str | None = None,
    relationship: str | None = None,
    transport: str | None = None,
    instructions_given: bool | None = None,
    mental_status: str | None = None,
    suicidal_ideation: str | None = None,
    suicide_risk_assessment: str | None = None,
) -> Response:
    """Discharge readiness: every criterion met or not, with its source, and when observation ends.

    Without query parameters the nurse's entries are prefilled from the chart (the check-in
    driver, charted nausea); with them, the checklist is evaluated for what would be entered.
    Nothing is charted, not even suicidal ideation given here: that is charted by the discharge.
    """
    given = (
        score_kind,
        score,
        walks_with_help,
        nausea,
        driver,
        relationship,
        transport,
        instructions_given,
        mental_status,
        suicidal_ideation,
        suicide_risk_assessment,
    )
    entries = None
    try:
        if any(v is not None for v in given):
            entries = service.parse_entries(
                score_kind=score_kind or "aldrete",
                score=score,
                walks_with_help=bool(walks_with_help),
                nausea=nausea,
                driver=driver,
                relationship=relationship,
                transport=transport,
                instructions_given=bool(instructions_given),
                mental_status=mental_status,
                suicidal_ideation=suicidal_ideation,
                suicide_risk_assessment=suicide_risk_assessment,
            )
        view = service.readiness(db, who, session_id, now, entries)
    except InvalidInput as exc:
        return JSONResponse({"field": None, **forms.refusal(exc)}, status_code=400)
    return JSONResponse(_readiness_json(view))


@router.post("/api/sessions/{session_id}/discharge")
def discharge_api(session_id: uuid.UUID, body: DischargeIn, db: Db, who: ApiWho, now: Now) -> Response:
    """Discharge the patient; refused (400) with every unmet criterion listed, 409 if already discharged.

    `chart_flagged` says suicidal ideation found by the check was charted and flags the chart."""
    try:
        entries = body.entries()
        row = service.discharge(db, who, session_id, entries, now, expected_version=body.version)
    except service.NotReady as exc:
        db.rollback()
        unmet = [{"criterion": u.criterion, "message": u.message, "source": u.source} for u in exc.unmet]
        return JSONResponse(
            {"error": exc.message, "unmet": unmet, "chart_flagged": exc.chart_flagged}, status_code=400
        )
    except InvalidInput as exc:
        db.rollback()
        return JSONResponse({"field": None, **forms.refusal(exc)}, status_code=400)
    return JSONResponse(
        {
            "id": str(row.id),
            "session_id": str(session_id),
            "discharged_at": row.discharged_at.isoformat(),
            "recovery_score": f"{row.recovery_score_kind} {row.recovery_score}",
            "driver": row.escort_name,
            "driver_phone": row.escort_phone,
            "transport": row.transport_arranged,
            "mental_status": row.mental_status,
            "suicidal_ideation": row.suicidal_ideation,
            "chart_flagged": row.suicidal_ideation == service.PRESENT,
            "aftercare_url": f"/sessions/{session_id}/aftercare",
        }
    )
