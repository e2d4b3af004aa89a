"""Nurse in the chair: side effects, interventions, comfort, assistance requests, CADSS, vitals check.

Each form route parses what was typed, calls the service, and on bad input rolls back and
shows the session page again (400) with the message beside the form and what was typed
kept. Each API route takes a JSON body and calls the same service.
"""

import uuid
from datetime import datetime, time
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ketaflow.errors import InvalidInput, Problems, invalid
from ketaflow.services import chairside, infusion
from ketaflow.web import forms
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who
from ketaflow.web.routes.sessions import assistance_json, comfort_json, session_form, side_effect_json

router = APIRouter()

CADSS_ITEMS = len(chairside.cadss_form().items)

# A time: on the page as typed ('14:05', today in the clinic's zone); in JSON a date and time
# with its zone; blank or absent means now.
When = time | datetime | None


def _uuid_or_none(text: str, field: str, label: str) -> uuid.UUID | None:
    text = text.strip()
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise invalid(field, f"Choose the {label} from the list.") from None


def _prefixed(prefix: str, posted: dict[str, str]) -> dict[str, str]:
    """What was typed, under the names the session page gives each form's fields (se_kind, ...)."""
    return {f"{prefix}{k}": v for k, v in posted.items()}


# ---- side effects -----------------------------------------------------------------------------


class SideEffectIn(BaseModel):
    kind: str = Field(description="nausea, vomiting, faintness, dizziness, headache, dissociation, ...")
    severity: str = Field(description="mild, moderate or severe")
    onset_at: Annotated[When, forms.as_clock("The onset time")] = Field(
        None, description="When it began (with time zone); default now"
    )
    adverse_event: bool = False
    notes: str | None = None

    def check(self) -> None:
        """The checks that need no database (forms.read runs them with a field it cannot read)."""
        chairside.check_side_effect(self.kind, self.severity, self.notes)


class ResolveIn(BaseModel):
    resolved_at: Annotated[When, forms.as_clock("The resolution time")] = Field(
        None, description="When it resolved (with time zone); default now"
    )


def _side_effect(db: Db, who: Any, session_id: uuid.UUID, body: SideEffectIn, now: datetime) -> Any:
    return chairside.chart_side_effect(
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


@router.post("/sessions/{session_id}/side-effects", include_in_schema=False)
def side_effect_form(
    request: Request, session_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    return session_form(
        request,
        db,
        who,
        session_id,
        now,
        "side-effects",
        posted,
        lambda: _side_effect(db, who, session_id, forms.read(SideEffectIn, posted), now),
        typed=_prefixed("se_", posted),
    )


@router.post("/sessions/{session_id}/vitals/{vital_id}/artefact", include_in_schema=False)
def artefact_form(
    request: Request,
    session_id: uuid.UUID,
    vital_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    posted: forms.Posted,
) -> Response:
    """Mark a monitor's reading as artefact, with the reason (an amendment; the reading stays)."""
    return session_form(
        request,
        db,
        who,
        session_id,
        now,
        "vitals",
        posted,
        lambda: infusion.mark_artefact(
            db, who, session_id, vital_id, reason=posted.get("reason", ""), now=now
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
    posted: forms.Posted,
) -> Response:
    return session_form(
        request,
        db,
        who,
        session_id,
        now,
        "side-effects",
        posted,
        lambda: chairside.resolve_side_effect(
            db,
            who,
            session_id,
            side_effect_id,
            resolved=forms.read(ResolveIn, posted).resolved_at,
            now=now,
        ),
        typed={f"resolved_{side_effect_id}": posted.get("resolved_at", "")},
    )


@router.post("/api/sessions/{session_id}/side-effects")
def side_effect_api(
    session_id: uuid.UUID, body: SideEffectIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Chart a side effect (or adverse event); onset not in the future nor before the session opened."""
    return side_effect_json(_side_effect(db, who, session_id, body, now))


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


class InterventionIn(BaseModel):
    kind: str = Field(description="drug or action")
    drug_name: str | None = Field(None, description="For a drug, e.g. ondansetron")
    dose_text: str | None = Field(None, description="For a drug, dose with unit and route, e.g. 4 mg IV")
    description: str | None = Field(None, description="For an action, e.g. reassurance, repositioned")
    side_effect_id: Annotated[
        uuid.UUID | None, forms.reading(lambda text, field, _: _uuid_or_none(text, field, "side effect"), "")
    ] = None
    given_at: Annotated[When, forms.as_clock("The time given")] = Field(
        None, description="When (with time zone); default now"
    )

    def check(self) -> None:
        """The checks that need no database (forms.read runs them with a field it cannot read)."""
        chairside.check_intervention(self.kind, self.drug_name, self.dose_text, self.description)


def _intervention(db: Db, who: Any, session_id: uuid.UUID, body: InterventionIn, now: datetime) -> Any:
    return chairside.record_intervention(
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


@router.post("/sessions/{session_id}/interventions", include_in_schema=False)
def intervention_form(
    request: Request, session_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    return session_form(
        request,
        db,
        who,
        session_id,
        now,
        "interventions",
        posted,
        lambda: _intervention(db, who, session_id, forms.read(InterventionIn, posted), now),
        typed=_prefixed("iv_", posted),
    )


@router.post("/api/sessions/{session_id}/interventions")
def intervention_api(
    session_id: uuid.UUID, body: InterventionIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Chart a drug given or an action taken, optionally for a charted side effect."""
    row = _intervention(db, who, session_id, body, now)
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


class ComfortIn(BaseModel):
    music: bool = False
    dimmed_light: bool = False
    eye_mask: bool = False
    companion_present: bool = False


def _comfort(db: Db, who: Any, session_id: uuid.UUID, body: ComfortIn, now: datetime) -> Any:
    return chairside.set_comfort(db, who, session_id, **body.model_dump(), now=now)


@router.post("/sessions/{session_id}/comfort", include_in_schema=False)
def comfort_form(
    request: Request, session_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    return session_form(
        request,
        db,
        who,
        session_id,
        now,
        "comfort",
        posted,
        lambda: _comfort(db, who, session_id, forms.read(ComfortIn, posted), now),
        typed={},
    )


@router.post("/api/sessions/{session_id}/comfort")
def comfort_api(session_id: uuid.UUID, body: ComfortIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Set the comfort settings now in force; a change adds a row, the same settings again add none."""
    row, changed = _comfort(db, who, session_id, body, now)
    return {**comfort_json(row), "changed": changed}


# ---- assistance requests -----------------------------------------------------------------------


class AssistanceIn(BaseModel):
    reason: str = Field(description="restroom, nausea, anxiety, reposition or other")
    asked_at: Annotated[When, forms.as_clock("The time asked")] = Field(
        None, description="When the patient asked (with time zone); default now"
    )
    notes: str | None = None

    def check(self) -> None:
        """The checks that need no database (forms.read runs them with a field it cannot read)."""
        chairside.check_assistance(self.reason, self.notes)


class AnswerIn(BaseModel):
    helped_at: Annotated[When, forms.as_clock("The time helped")] = Field(
        None, description="When the patient was helped; default now"
    )


def _assistance(db: Db, who: Any, session_id: uuid.UUID, body: AssistanceIn, now: datetime) -> Any:
    return chairside.request_assistance(
        db, who, session_id, reason=body.reason, asked=body.asked_at, notes=body.notes, now=now
    )


@router.post("/sessions/{session_id}/assistance", include_in_schema=False)
def assistance_form(
    request: Request, session_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    return session_form(
        request,
        db,
        who,
        session_id,
        now,
        "assistance",
        posted,
        lambda: _assistance(db, who, session_id, forms.read(AssistanceIn, posted), now),
        typed=_prefixed("as_", posted),
    )


@router.post("/sessions/{session_id}/assistance/{request_id}/answer", include_in_schema=False)
def answer_form(
    request: Request,
    session_id: uuid.UUID,
    request_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    posted: forms.Posted,
) -> Response:
    return session_form(
        request,
        db,
        who,
        session_id,
        now,
        "assistance",
        posted,
        lambda: chairside.answer_assistance(
            db, who, session_id, request_id, helped=forms.read(AnswerIn, posted).helped_at, now=now
        ),
        typed={f"helped_{request_id}": posted.get("helped_at", "")},
    )


@router.post("/api/sessions/{session_id}/assistance")
def assistance_api(
    session_id: uuid.UUID, body: AssistanceIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Chart that the patient asked for help, and when."""
    return assistance_json(_assistance(db, who, session_id, body, now), now)


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
        found = Problems()

        def item(i: int) -> int | None:
            text = typed[f"cadss_{i}"]
            try:
                return forms.whole(text, f"item_{i}", f"CADSS item {i}")
            except InvalidInput:
                raise invalid(
                    f"item_{i}", f"CADSS item {i} must be a whole number from 0 to 4; got {text!r}."
                ) from None

        out = [found.check(partial(item, i)) for i in range(1, CADSS_ITEMS + 1)]
        found.raise_any()
        return out

    return session_form(
        request,
        db,
        who,
        session_id,
        now,
        "cadss",
        {f"item_{i}": typed[f"cadss_{i}"] for i in range(1, CADSS_ITEMS + 1)},
        lambda: chairside.rate_cadss(db, who, session_id, answers(), now=now),
        typed=typed,
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
