"""An infusion session: the page, the pump, vital signs and the predicted drug levels."""

import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaflow.clinical import default_rules
from ketaflow.errors import Conflict, InvalidInput, invalid
from ketaflow.services import chairside, infusion, levels, seating
from ketaflow.services.permissions import Action, allowed
from ketaflow.services.session_state import InfusionState
from ketaflow.store import models as m
from ketaflow.vocabulary import AdministrationKind, AssistanceReason, Severity, SideEffectKind
from ketaflow.web import forms
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who, page

router = APIRouter()


def render_session(
    request: Request,
    db: Db,
    who: Any,
    session_id: uuid.UUID,
    now: Any,
    *,
    form: dict[str, str] | None = None,
    errors: forms.FormErrors = forms.NO_ERRORS,
    status_code: int = 200,
) -> Response:
    """The session page; `errors` (of one form) shows its mistakes at that form, `form` what was typed."""
    view = infusion.session_view(db, who, session_id, now)
    zone = ZoneInfo(view.clinic.timezone)
    return page(
        request,
        "session.html",
        status_code=status_code,
        who=who,
        view=view,
        now=now,
        zone=zone,
        form=form or {},
        errors=errors,
        live_model=levels.live_model_title(),
        cadss_form=chairside.cadss_form(),
        minutes_waiting=chairside.minutes_waiting,
        can_chart=allowed(who, Action.CHART_INFUSION, view.session.clinic_id),
        side_effect_kinds=[k.value for k in SideEffectKind],
        severities=[k.value for k in Severity],
        assistance_reasons=[k.value for k in AssistanceReason],
        sedation_scale=default_rules().vitals.sedation,
    )


def session_form(
    request: Request,
    db: Db,
    who: Any,
    session_id: uuid.UUID,
    now: Any,
    at: str,
    posted: dict[str, str],
    action: Callable[[], object],
    *,
    typed: dict[str, str] | None = None,
    then: str | None = None,
) -> Response:
    """Run a session-page form's action; on a refusal roll back (nothing of it is kept) and show the
    page again (400) at the form `at`, every mistake tied to its field and what was typed kept
    (`typed`, when the page names the fields otherwise than the form posts them)."""
    try:
        action()
    except (InvalidInput, Conflict) as exc:
        db.rollback()  # nothing of a refused entry is kept
        errors = forms.FormErrors.of(at, exc, fields=posted)
        kept = posted if typed is None else typed
        return render_session(
            request,
            db,
            who,
            session_id,
            now,
            form=kept,
            errors=errors,
            status_code=400,
        )
    return RedirectResponse(
        f"/sessions/{session_id}{then if then is not None else '#' + at}", status_code=303
    )


def _sedation(text: str, field: str = "sedation", label: str = "") -> int | None:
    """The sedation level as typed or chosen; a value that is not a whole number says so."""
    scale = default_rules().vitals.sedation
    label = f"Sedation ({scale.scale})"
    try:
        return forms.whole(text, field, label)
    except InvalidInput:
        raise invalid(
            field, f"{label} must be a whole number from 0 to {scale.max_score}; got {text.strip()!r}."
        ) from None


class PumpIn(BaseModel):
    kind: str = Field(description="start, pause, resume or stop")
    reason: str | None = Field(None, description="Why the pump is paused or stopped, e.g. BP 182/110")


class VitalsIn(BaseModel):
    bp: str = Field(description="Blood pressure written systolic/diastolic, e.g. 128/82")
    heart_rate: Annotated[int | None, forms.as_whole("Heart rate")] = None
    spo2: Annotated[int | None, forms.as_whole("SpO2")] = None
    respiratory_rate: Annotated[int | None, forms.as_whole("Respiratory rate")] = None
    sedation: Annotated[int | None, forms.reading(_sedation, "")] = Field(
        None,
        description="Sedation level on the MOAA/S: 5 responds readily to name in a normal tone, 4 lethargic "
        "response, 3 only when called loudly or repeatedly, 2 only after mild prodding or shaking, 1 only "
        "after a painful trapezius squeeze, 0 no response. Expected, with SpO2, at every reading during "
        "the infusion (charted without them with a 'watch' alert)",
    )

    def check(self) -> None:
        """The checks of a charted reading that need no database (forms.read runs them too)."""
        infusion.checked_vitals(self.bp, self.heart_rate, self.spo2, self.respiratory_rate, self.sedation)


class OrderIn(BaseModel):
    protocol: str = "depression-induction"
    dose_mg_per_kg: Annotated[float | None, forms.as_number("Dose (mg/kg)")] = None
    minutes: Annotated[float | None, forms.as_number("Minutes")] = None
    bag_mg: Annotated[float | None, forms.as_number("Bag drug (mg)")] = 100.0
    bag_ml: Annotated[float | None, forms.as_number("Bag volume (mL)")] = 100.0
    reason: str = ""


def _pump(db: Db, who: Any, session_id: uuid.UUID, body: PumpIn, now: Any) -> InfusionState:
    kind = _kind(body.kind)
    return infusion.pump(db, who, session_id, kind, now, reason=body.reason)


def _vitals(db: Db, who: Any, session_id: uuid.UUID, body: VitalsIn, now: Any) -> infusion.VitalRow:
    return infusion.record_vitals(db, who, session_id, **body.model_dump(), now=now)


def _order(db: Db, who: Any, session_id: uuid.UUID, body: OrderIn, now: Any) -> m.DoseOrder:
    return seating.order_dose(
        db,
        who,
        session_id,
        protocol=body.protocol,
        dose_mg_per_kg=body.dose_mg_per_kg,
        minutes=body.minutes,
        bag_mg=body.bag_mg or 0.0,
        bag_ml=body.bag_ml or 0.0,
        reason=body.reason,
        now=now,
    )


@router.get("/sessions/{session_id}", include_in_schema=False)
def session_page(request: Request, session_id: uuid.UUID, db: Db, who: Who, now: Now) -> Response:
    return render_session(request, db, who, session_id, now)


@router.post("/sessions/{session_id}/pump", include_in_schema=False)
def pump_form(
    request: Request, session_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    def act() -> None:
        body = forms.read(PumpIn, posted)
        if body.kind == "stop" and posted.get("confirm") != "yes":
            raise InvalidInput(
                "Tick the box to confirm the stop: a stopped infusion cannot be restarted. "
                "To halt it for now, pause instead."
            )
        _pump(db, who, session_id, body, now)

    return session_form(request, db, who, session_id, now, "pump", posted, act, then="")


@router.post("/sessions/{session_id}/vitals", include_in_schema=False)
def vitals_form(
    request: Request, session_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    return session_form(
        request,
        db,
        who,
        session_id,
        now,
        "vitals",
        posted,
        lambda: _vitals(db, who, session_id, forms.read(VitalsIn, posted), now),
    )


@router.post("/sessions/{session_id}/order", include_in_schema=False)
def order_form(
    request: Request, session_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    return session_form(
        request,
        db,
        who,
        session_id,
        now,
        "order",
        posted,
        lambda: _order(db, who, session_id, forms.read(OrderIn, posted), now),
        then="",
    )


@router.post("/api/sessions/{session_id}/order")
def order_api(session_id: uuid.UUID, body: OrderIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Order the dose: refused above a hard limit; above a soft limit only with a written reason."""
    row = _order(db, who, session_id, body, now)
    return {
        "dose_mg": row.dose_mg,
        "rate_ml_per_h": row.rate_ml_per_h,
        "volume_ml": row.volume_ml,
        "bag_drug_mg": row.bag_drug_mg,
        "bag_volume_ml": row.bag_volume_ml,
        "vtbi_mg": round(row.vtbi_mg, 3),
        "limit_status": row.limit_status,
    }


@router.get("/api/sessions/{session_id}")
def session_api(session_id: uuid.UUID, db: Db, who: Who, now: Now) -> dict[str, Any]:
    """The session: order, pump events (with pause/stop reasons), state, drug given so far, vitals with
    alert levels, side effects, interventions, comfort, requests for help (minutes waiting), CADSS."""
    v = infusion.session_view(db, who, session_id, now)
    return {
        "id": str(v.session.id),
        "patient": {
            "id": str(v.patient.id),
            "mrn": v.patient.mrn,
            "name": f"{v.patient.given_name} {v.patient.family_name}",
        },
        "clinic": v.clinic.code,
        "chair": v.chair_label,
        "state": v.state.value,
        "given_mg": round(v.given_mg, 2),
        "order_complete": v.order_complete,
        "order": None
        if v.order is None
        else {
            "id": str(v.order.id),
            "amends_id": str(v.order.amends_id) if v.order.amends_id else None,
            "protocol": v.order.protocol_code,
            "dose_mg": v.order.dose_mg,
            "dose_mg_per_kg": v.order.dose_mg_per_kg,
            "duration_min": v.order.duration_min,
            "rate_ml_per_h": v.order.rate_ml_per_h,
            "volume_ml": v.order.volume_ml,
            "bag_drug_mg": v.order.bag_drug_mg,
            "bag_volume_ml": v.order.bag_volume_ml,
            "vtbi_mg": round(v.order.vtbi_mg, 3),
        },
        "events": [
            {
                "kind": e.kind.value,
                "at": e.at.isoformat(),
                "cumulative_mg": e.cumulative_mg,
                "reason": e.reason,
            }
            for e in v.pump_events
        ],
        "vitals": [
            {**asdict(r), "id": str(r.id), "measured_at": r.measured_at.isoformat()} for r in v.vitals
        ],
        "side_effects": [side_effect_json(e) for e in v.side_effects],
        "interventions": [
            {
                **asdict(i),
                "id": str(i.id),
                "given_at": i.given_at.isoformat(),
                "side_effect_id": str(i.side_effect_id) if i.side_effect_id else None,
            }
            for i in v.interventions
        ],
        "comfort": comfort_json(v.comfort),
        "assistance": [assistance_json(r, now) for r in v.assistance],
        "cadss": [
            {
                "id": str(q.id),
                "total": q.total,
                "answered_at": q.answered_at.isoformat(),
                "answers": q.answers,
                "amends_id": str(q.amends_id) if q.amends_id else None,
            }
            for q in v.cadss
        ],
        "suggested_pause_reason": v.suggested_pause_reason or None,
        "discharged_at": v.discharge.discharged_at.isoformat() if v.discharge else None,
    }


def side_effect_json(e: m.SideEffect) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "kind": str(e.kind),
        "severity": str(e.severity),
        "onset_at": e.onset_at.isoformat(),
        "resolved_at": e.resolved_at.isoformat() if e.resolved_at else None,
        "adverse_event": e.is_adverse_event,
        "notes": e.notes,
        "amends_id": str(e.amends_id) if e.amends_id else None,
    }


def comfort_json(c: m.ComfortSetting | None) -> dict[str, Any]:
    values = {k: bool(getattr(c, k)) if c else False for k in chairside.COMFORT_FIELDS}
    return {**values, "set_at": c.set_at.isoformat() if c else None}


def assistance_json(r: m.AssistanceRequest, now: Any) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "reason": str(r.reason),
        "asked_at": r.asked_at.isoformat(),
        "helped_at": r.helped_at.isoformat() if r.helped_at else None,
        "helped_by_id": str(r.helped_by_id) if r.helped_by_id else None,
        "minutes_waiting": None if r.helped_at else chairside.minutes_waiting(r, now),
        "notes": r.notes,
        "amends_id": str(r.amends_id) if r.amends_id else None,
    }


@router.post("/api/sessions/{session_id}/pump")
def pump_api(session_id: uuid.UUID, body: PumpIn, db: Db, who: ApiWho, now: Now) -> dict[str, str]:
    """Chart a pump event now: start, pause, resume or stop (a pause or stop may give its reason)."""
    return {"state": _pump(db, who, session_id, body, now).value}


@router.post("/api/sessions/{session_id}/vitals")
def vitals_api(session_id: uuid.UUID, body: VitalsIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Chart vital signs now; the answer carries the alert level and messages."""
    row = _vitals(db, who, session_id, body, now)
    return {**asdict(row), "id": str(row.id), "measured_at": row.measured_at.isoformat()}


@router.get("/api/sessions/{session_id}/levels")
def levels_api(session_id: uuid.UUID, db: Db, who: Who, now: Now) -> dict[str, Any]:
    """Predicted plasma (Cp) and effect-site (Ce) ketamine levels from what was given, and when clear."""
    return asdict(levels.live_levels(db, who, session_id, now))


def _kind(text: str) -> AdministrationKind:
    allowed = {"start", "pause", "resume", "stop"}
    if text not in allowed:
        raise InvalidInput(f"The pump action must be one of {', '.join(sorted(allowed))}; got {text!r}.")
    return AdministrationKind(text)
