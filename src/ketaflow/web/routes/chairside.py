"""Nurse in the chair: side effects, interventions, comfort, assistance requests, CADSS, vitals check.

Each form route parses what was typed, calls the service, and on bad input rolls back and
shows the session page again (400) with the message beside the form and what was typed
kept. Each API route takes a JSON body and calls the same service.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaflow.errors import Conflict, InvalidInput
from ketaflow.services import chairside
from ketaflow.services.chairside import parse_clock
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who
from ketaflow.web.routes.sessions import assistance_json, comfort_json, render_session, side_effect_json

router = APIRouter()

CADSS_ITEMS = len(chairside.cadss_form().items)


def _form_result(
    request: Request,
    db: Db,
    who: Any,
    session_id: uuid.UUID,
    now: datetime,
    where: str,
    typed: dict[str, Any],
    action: Callable[[], object],
) -> Response:
    try:
        action()
    except (InvalidInput, Conflict) as exc:
        db.rollback()  # nothing of a refused entry is kept
        return render_session(
            request, db, who, session_id, now, form=typed, error=exc.message, error_at=where, status_code=400
        )
    return RedirectResponse(f"/sessions/{session_id}#{where}", status_code=303)


def _uuid_or_none(text: str, label: str) -> uuid.UUID | None:
    text = text.strip()
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidInput(f"Choose the {label} from the list.") from None


# ---- side effects -----------------------------------------------------------------------------


@router.post("/sessions/{session_id}/side-effects", include_in_schema=False)
def side_effect_form(
    request: Request,
    session_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    kind: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "",
    onset: Annotated[str, Form()] = "",
    adverse_event: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
) -> Response:
    typed = {
        "se_kind": kind,
        "se_severity": severity,
        "se_onset": onset,
        "se_adverse": adverse_event,
        "se_notes": notes,
    }
    return _form_result(
        request,
        db,
        who,
        session_id,
        now,
        "side-effects",
        typed,
        lambda: chairside.chart_side_effect(
            db,
            who,
            session_id,
            kind=kind,
            severity=severity,
            onset=parse_clock(onset, "The onset time"),
            adverse_event=bool(adverse_event),
            notes=notes,
            now=now,
        ),
    )


@router.post("/sessions/{session_id}/side-effects/{side_effect_id}/resolve", include_in_schema=False)
def resolve_form(
    request: Request,
    session_id: uuid.UUID,
    side_effect_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    resolved: Annotated[str, Form()] = "",
) -> Response:
    return _form_result(
        request,
        db,
        who,
        session_id,
        now,
        "side-effects",
        {f"resolved_{side_effect_id}": resolved},
        lambda: chairside.resolve_side_effect(
            db,
            who,
            session_id,
            side_effect_id,
            resolved=parse_clock(resolved, "The resolution time"),
            now=now,
        ),
    )


class SideEffectIn(BaseModel):
    kind: str = Field(description="nausea, vomiting, faintness, dizziness, headache, dissociation, ...")
    severity: str = Field(description="mild, moderate or severe")
    onset_at: datetime | None = Field(None, description="When it began (with time zone); default now")
    adverse_event: bool = False
    notes: str | None = None


class ResolveIn(BaseModel):
    resolved_at: datetime | None = Field(None, description="When it resolved (with time zone); default now")


@router.post("/api/sessions/{session_id}/side-effects")
def side_effect_api(
    session_id: uuid.UUID, body: SideEffectIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Chart a side effect (or adverse event); onset not in the future nor before the session opened."""
    row = chairside.chart_side_effect(
        db,
        who,
        session_id,
        kind=body.kind,
        severity=body.severity,
        onset=body.onset_at,
        adverse_event=body.adverse_event,
        notes=body.notes,
        now=now,
    )
    return side_effect_json(row)


@router.post("/api/sessions/{session_id}/side-effects/{side_effect_id}/resolve")
def resolve_api(
    session_id: uuid.UUID, side_effect_id: uuid.UUID, body: ResolveIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Mark a side effect resolved: an amendment row; the original stays as charted (409 if resolved)."""
    row = chairside.resolve_side_effect(
        db, who, session_id, side_effect_id, resolved=body.resolved_at, now=now
    )
    return side_effect_json(row)


# ---- interventions ----------------------------------------------------------------------------


@router.post("/sessions/{session_id}/interventions", include_in_schema=False)
def intervention_form(
    request: Request,
    session_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    kind: Annotated[str, Form()] = "",
    drug_name: Annotated[str, Form()] = "",
    dose_text: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    side_effect_id: Annotated[str, Form()] = "",
    given: Annotated[str, Form()] = "",
) -> Response:
    typed = {
        "iv_kind": kind,
        "iv_drug_name": drug_name,
        "iv_dose_text": dose_text,
        "iv_description": description,
        "iv_side_effect_id": side_effect_id,
        "iv_given": given,
    }
    return _form_result(
        request,
        db,
        who,
        session_id,
        now,
        "interventions",
        typed,
        lambda: chairside.record_intervention(
            db,
            who,
            session_id,
            kind=kind,
            drug_name=drug_name,
            dose_text=dose_text,
            description=description,
            side_effect_id=_uuid_or_none(side_effect_id, "side effect"),
            given=parse_clock(given, "The time given"),
            now=now,
        ),
    )


class InterventionIn(BaseModel):
    kind: str = Field(description="drug or action")
    drug_name: str | None = Field(None, description="For a drug, e.g. ondansetron")
    dose_text: str | None = Field(None, description="For a drug, dose with unit and route, e.g. 4 mg IV")
    description: str | None = Field(None, description="For an action, e.g. reassurance, repositioned")
    side_effect_id: uuid.UUID | None = None
    given_at: datetime | None = Field(None, description="When (with time zone); default now")


@router.post("/api/sessions/{session_id}/interventions")
def intervention_api(
    session_id: uuid.UUID, body: InterventionIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Chart a drug given or an action taken, optionally for a charted side effect."""
    row = chairside.record_intervention(
        db,
        who,
        session_id,
        kind=body.kind,
        drug_name=body.drug_name,
        dose_text=body.dose_text,
        description=body.description,
        side_effect_id=body.side_effect_id,
        given=body.given_at,
        now=now,
    )
    return {
        "id": str(row.id),
        "kind": str(row.kind),
        "description": row.description,
        "drug_name": row.drug_name,
        "dose_text": row.dose_text,
        "given_at": row.given_at.isoformat(),
        "side_effect_id": str(row.side_effect_id) if row.side_effect_id else None,
    }


# ---- comfort ----------------------------------------------------------------------------------


@router.post("/sessions/{session_id}/comfort", include_in_schema=False)
def comfort_form(
    request: Request,
    session_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    music: Annotated[str, Form()] = "",
    dimmed_light: Annotated[str, Form()] = "",
    eye_mask: Annotated[str, Form()] = "",
    companion_present: Annotated[str, Form()] = "",
) -> Response:
    return _form_result(
        request,
        db,
        who,
        session_id,
        now,
        "comfort",
        {},
        lambda: chairside.set_comfort(
            db,
            who,
            session_id,
            music=bool(music),
            dimmed_light=bool(dimmed_light),
            eye_mask=bool(eye_mask),
            companion_present=bool(companion_present),
            now=now,
        ),
    )


class ComfortIn(BaseModel):
    music: bool = False
    dimmed_light: bool = False
    eye_mask: bool = False
    companion_present: bool = False


@router.post("/api/sessions/{session_id}/comfort")
def comfort_api(session_id: uuid.UUID, body: ComfortIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Set the comfort settings now in force; a change adds a row, the same settings again add none."""
    row, changed = chairside.set_comfort(
        db,
        who,
        session_id,
        music=body.music,
        dimmed_light=body.dimmed_light,
        eye_mask=body.eye_mask,
        companion_present=body.companion_present,
        now=now,
    )
    return {**comfort_json(row), "changed": changed}


# ---- assistance requests -----------------------------------------------------------------------


@router.post("/sessions/{session_id}/assistance", include_in_schema=False)
def assistance_form(
    request: Request,
    session_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    reason: Annotated[str, Form()] = "",
    asked: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
) -> Response:
    typed = {"as_reason": reason, "as_asked": asked, "as_notes": notes}
    return _form_result(
        request,
        db,
        who,
        session_id,
        now,
        "assistance",
        typed,
        lambda: chairside.request_assistance(
            db,
            who,
            session_id,
            reason=reason,
            asked=parse_clock(asked, "The time asked"),
            notes=notes,
            now=now,
        ),
    )


@router.post("/sessions/{session_id}/assistance/{request_id}/answer", include_in_schema=False)
def answer_form(
    request: Request,
    session_id: uuid.UUID,
    request_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    helped: Annotated[str, Form()] = "",
) -> Response:
    return _form_result(
        request,
        db,
        who,
        session_id,
        now,
        "assistance",
        {f"helped_{request_id}": helped},
        lambda: chairside.answer_assistance(
            db, who, session_id, request_id, helped=parse_clock(helped, "The time helped"), now=now
        ),
    )


class AssistanceIn(BaseModel):
    reason: str = Field(description="restroom, nausea, anxiety, reposition or other")
    asked_at: datetime | None = Field(
        None, description="When the patient asked (with time zone); default now"
    )
    notes: str | None = None


class AnswerIn(BaseModel):
    helped_at: datetime | None = Field(None, description="When the patient was helped; default now")


@router.post("/api/sessions/{session_id}/assistance")
def assistance_api(
    session_id: uuid.UUID, body: AssistanceIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Chart that the patient asked for help, and when."""
    row = chairside.request_assistance(
        db, who, session_id, reason=body.reason, asked=body.asked_at, notes=body.notes, now=now
    )
    return assistance_json(row, now)


@router.post("/api/sessions/{session_id}/assistance/{request_id}/answer")
def answer_api(
    session_id: uuid.UUID, request_id: uuid.UUID, body: AnswerIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Chart that a request was answered, by the signed-in user: an amendment (409 if already answered)."""
    row = chairside.answer_assistance(db, who, session_id, request_id, helped=body.helped_at, now=now)
    return assistance_json(row, now)


# ---- CADSS -------------------------------------------------------------------------------------


async def _cadss_typed(request: Request) -> dict[str, str]:
    """The CADSS items as typed (item_1 ... item_23), read from the form (cached by Starlette)."""
    form = await request.form()
    return {f"cadss_{i}": str(form.get(f"item_{i}", "")).strip() for i in range(1, CADSS_ITEMS + 1)}


@router.post("/sessions/{session_id}/cadss", include_in_schema=False)
def cadss_form(
    request: Request,
    session_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    typed: Annotated[dict[str, str], Depends(_cadss_typed)],
) -> Response:

    def answers() -> list[int | None]:
        out: list[int | None] = []
        for i in range(1, CADSS_ITEMS + 1):
            text = typed[f"cadss_{i}"]
            if not text:
                out.append(None)
                continue
            try:
                out.append(int(text))
            except ValueError:
                raise InvalidInput(
                    f"CADSS item {i} must be a whole number from 0 to 4; got {text!r}."
                ) from None
        return out

    return _form_result(
        request,
        db,
        who,
        session_id,
        now,
        "cadss",
        typed,
        lambda: chairside.rate_cadss(db, who, session_id, answers(), now=now),
    )


class CadssIn(BaseModel):
    answers: list[int | None] = Field(description="The 23 item ratings (0-4) in item order")


@router.post("/api/sessions/{session_id}/cadss")
def cadss_api(session_id: uuid.UUID, body: CadssIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Score and store a clinician-rated CADSS for this infusion; all 23 items are required."""
    row, scored = chairside.rate_cadss(db, who, session_id, body.answers, now=now)
    return {
        "id": str(row.id),
        "instrument": "cadss",
        "total": scored.total,
        "max_total": scored.max_total,
        "answered_at": row.answered_at.isoformat(),
        "source": scored.source,
    }


# ---- vitals as they are typed -------------------------------------------------------------------


@router.get("/api/sessions/{session_id}/vitals/check")
def vitals_check_api(
    session_id: uuid.UUID,
    db: Db,
    who: Who,
    bp: Annotated[str, Query(description="e.g. 128/82")] = "",
    heart_rate: Annotated[float | None, Query()] = None,
    spo2: Annotated[float | None, Query()] = None,
    respiratory_rate: Annotated[float | None, Query()] = None,
    sedation: Annotated[int | None, Query(description="MOAA/S level, 0-5")] = None,
    *,
    now: Now,
) -> dict[str, Any]:
    """Classify typed vitals as charting them now would (the session's baseline, the confirmed-pause
    rule while the infusion runs); saves nothing."""
    check = chairside.check_vitals(
        db,
        who,
        session_id,
        bp=bp,
        heart_rate=heart_rate,
        spo2=spo2,
        respiratory_rate=respiratory_rate,
        sedation=sedation,
        now=now,
    )
    base = check.baseline
    return {
        "level": check.level,
        "alerts": [
            {"parameter": a.parameter, "level": a.level.value, "message": a.message, "source": a.source}
            for a in check.alerts
        ],
        "actions": list(check.actions),
        "baseline": None
        if base is None
        else {
            "bp": str(base.bp) if base.bp else None,
            "heart_rate": base.heart_rate_per_min,
            "spo2": base.spo2_percent,
            "respiratory_rate": base.respiratory_rate_per_min,
        },
    }
