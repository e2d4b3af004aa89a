"""An infusion session: the page, the pump, vital signs and the predicted drug levels."""

import uuid
from dataclasses import asdict
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaflow.clinical import default_rules
from ketaflow.errors import Conflict, InvalidInput, invalid
from ketaflow.services import chairside, infusion, levels, seating
from ketaflow.services.permissions import Action, allowed
from ketaflow.store import models as m
from ketaflow.vocabulary import AdministrationKind, AssistanceReason, Severity, SideEffectKind
from ketaflow.web import forms
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who, page

router = APIRouter()


def render_session(
    request: Request, db: Db, who: Any, session_id: uuid.UUID, now: Any, **extra: Any
) -> Response:
    """The session page; `error` with `error_at` (the form's name) shows a message beside that form."""
    view = infusion.session_view(db, who, session_id, now)
    status = extra.pop("status_code", 200)
    zone = ZoneInfo(view.clinic.timezone)
    extra.setdefault("form", {})
    extra.setdefault("live_model", levels.live_model_title())
    extra.setdefault("error", None)
    extra.setdefault("error_at", None)
    return page(
        request,
        "session.html",
        status_code=status,
        who=who,
        view=view,
        now=now,
        zone=zone,
        cadss_form=chairside.cadss_form(),
        minutes_waiting=chairside.minutes_waiting,
        can_chart=allowed(who, Action.CHART_INFUSION, view.session.clinic_id),
        side_effect_kinds=[k.value for k in SideEffectKind],
        severities=[k.value for k in Severity],
        assistance_reasons=[k.value for k in AssistanceReason],
        sedation_scale=default_rules().vitals.sedation,
        **extra,
    )


def _sedation(text: str) -> int | None:
    """The sedation level as typed or chosen; a value that is not a whole number says so."""
    scale = default_rules().vitals.sedation
    label = f"Sedation ({scale.scale})"
    try:
        return forms.whole(text, "sedation", label)
    except InvalidInput:
        raise invalid(
            "sedation", f"{label} must be a whole number from 0 to {scale.max_score}; got {text.strip()!r}."
        ) from None


@router.get("/sessions/{session_id}", include_in_schema=False)
def session_page(request: Request, session_id: uuid.UUID, db: Db, who: Who, now: Now) -> Response:
    return render_session(request, db, who, session_id, now)


@router.post("/sessions/{session_id}/pump", include_in_schema=False)
def pump_form(
    request: Request,
    session_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    kind: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    try:
        if kind == "stop" and confirm != "yes":
            raise InvalidInput(
                "Tick the box to confirm the stop: a stopped infusion cannot be restarted. "
                "To halt it for now, pause instead."
            )
        infusion.pump(
            db, who, session_id, _kind(kind), now, reason=reason if kind in {"pause", "stop"} else None
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return render_session(
            request,
            db,
            who,
            session_id,
            now,
            form={"reason": reason, "kind": kind},
            error=exc.message,
            error_at="pump",
            status_code=400,
        )
    return RedirectResponse(f"/sessions/{session_id}", status_code=303)


@router.post("/sessions/{session_id}/vitals", include_in_schema=False)
def vitals_form(
    request: Request,
    session_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    bp: Annotated[str, Form()] = "",
    heart_rate: Annotated[str, Form()] = "",
    spo2: Annotated[str, Form()] = "",
    respiratory_rate: Annotated[str, Form()] = "",
    sedation: Annotated[str, Form()] = "",
) -> Response:
    typed = {
        "bp": bp,
        "heart_rate": heart_rate,
        "spo2": spo2,
        "respiratory_rate": respiratory_rate,
        "sedation": sedation,
    }
    try:
        infusion.record_vitals(
            db,
            who,
            session_id,
            bp=bp,
            heart_rate=forms.whole(heart_rate, "heart_rate", "Heart rate"),
            spo2=forms.whole(spo2, "spo2", "SpO2"),
            respiratory_rate=forms.whole(respiratory_rate, "respiratory_rate", "Respiratory rate"),
            sedation=_sedation(sedation),
            now=now,
        )
    except InvalidInput as exc:
        db.rollback()  # nothing of a refused entry is kept
        return render_session(
            request,
            db,
            who,
            session_id,
            now,
            form=typed,
            error=exc.message,
            error_at="vitals",
            status_code=400,
        )
    return RedirectResponse(f"/sessions/{session_id}#vitals", status_code=303)


@router.post("/sessions/{session_id}/order", include_in_schema=False)
def order_form(
    request: Request,
    session_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    protocol: Annotated[str, Form()] = "depression-induction",
    dose_mg_per_kg: Annotated[str, Form()] = "",
    minutes: Annotated[str, Form()] = "",
    bag_mg: Annotated[str, Form()] = "100",
    bag_ml: Annotated[str, Form()] = "100",
    reason: Annotated[str, Form()] = "",
) -> Response:
    typed = {
        "protocol": protocol,
        "dose_mg_per_kg": dose_mg_per_kg,
        "minutes": minutes,
        "bag_mg": bag_mg,
        "bag_ml": bag_ml,
        "reason": reason,
    }
    try:
        seating.order_dose(
            db,
            who,
            session_id,
            protocol=protocol,
            dose_mg_per_kg=forms.number(dose_mg_per_kg, "dose_mg_per_kg", "Dose (mg/kg)"),
            minutes=forms.number(minutes, "minutes", "Minutes"),
            bag_mg=forms.number(bag_mg, "bag_mg", "Bag drug (mg)") or 0.0,
            bag_ml=forms.number(bag_ml, "bag_ml", "Bag volume (mL)") or 0.0,
            reason=reason,
            now=now,
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return render_session(
            request,
            db,
            who,
            session_id,
            now,
            form=typed,
            error=exc.message,
            error_at="order",
            status_code=400,
        )
    return RedirectResponse(f"/sessions/{session_id}", status_code=303)


class OrderIn(BaseModel):
    protocol: str = "depression-induction"
    dose_mg_per_kg: float | None = None
    minutes: float | None = None
    bag_mg: float = 100.0
    bag_ml: float = 100.0
    reason: str = ""


@router.post("/api/sessions/{session_id}/order")
def order_api(session_id: uuid.UUID, body: OrderIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Order the dose: refused above a hard limit; above a soft limit only with a written reason."""
    row = seating.order_dose(
        db,
        who,
        session_id,
        protocol=body.protocol,
        dose_mg_per_kg=body.dose_mg_per_kg,
        minutes=body.minutes,
        bag_mg=body.bag_mg,
        bag_ml=body.bag_ml,
        reason=body.reason,
        now=now,
    )
    return {
        "dose_mg": row.dose_mg,
        "rate_ml_per_h": row.rate_ml_per_h,
        "volume_ml": row.volume_ml,
        "bag_drug_mg": row.bag_drug_mg,
        "bag_volume_ml": row.bag_volume_ml,
        "vtbi_mg": round(row.vtbi_mg, 3),
        "limit_status": row.limit_status,
    }


class PumpIn(BaseModel):
    kind: str = Field(description="start, pause, resume or stop")
    reason: str | None = Field(None, description="Why the pump is paused or stopped, e.g. BP 182/110")


class VitalsIn(BaseModel):
    bp: str = Field(description="Blood pressure written systolic/diastolic, e.g. 128/82")
    heart_rate: int | None = None
    spo2: int | None = None
    respiratory_rate: int | None = None
    sedation: int | None = Field(
        None,
        description="Sedation level on the MOAA/S: 5 responds readily to name in a normal tone, 4 lethargic "
        "response, 3 only when called loudly or repeatedly, 2 only after mild prodding or shaking, 1 only "
        "after a painful trapezius squeeze, 0 no response. Expected, with SpO2, at every reading during "
        "the infusion (charted without them with a 'watch' alert)",
    )


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
    return {"state": infusion.pump(db, who, session_id, _kind(body.kind), now, reason=body.reason).value}


@router.post("/api/sessions/{session_id}/vitals")
def vitals_api(session_id: uuid.UUID, body: VitalsIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Chart vital signs now; the answer carries the alert level and messages."""
    row = infusion.record_vitals(
        db,
        who,
        session_id,
        bp=body.bp,
        heart_rate=body.heart_rate,
        spo2=body.spo2,
        respiratory_rate=body.respiratory_rate,
        sedation=body.sedation,
        now=now,
    )
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
