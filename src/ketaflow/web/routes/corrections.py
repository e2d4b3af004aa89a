"""Correcting a charted vital sign, dose order, side effect or questionnaire answer: pages and API.

Each entry has a correction page (GET): its values as charted, its history (every earlier
version: who changed it, when, why, old -> new) and, for those who may correct it, a form
prefilled with the charted values and a required reason. The form and the JSON endpoint call
the same service; a refused correction saves nothing and shows the sentence (the page again
with what was typed, or a 4xx with the sentence in JSON).
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaflow.clinical import describe_instrument, list_protocols
from ketaflow.errors import Conflict, InvalidInput
from ketaflow.services import chairside, corrections, infusion, seating
from ketaflow.store import models as m
from ketaflow.vocabulary import Severity, SideEffectKind
from ketaflow.web import forms
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who, page
from ketaflow.web.forms import NO_ERRORS, FormErrors
from ketaflow.web.routes.sessions import side_effect_json

router = APIRouter()

VITALS, ORDER, SIDE_EFFECT, ANSWERS = (
    "vital signs reading",
    "dose order",
    "side effect",
    "questionnaire answer",
)


# ---- the page, shared by every kind of entry ---------------------------------------------------------


def _field(name: str, label: str, value: Any, kind: str = "text", **extra: Any) -> dict[str, Any]:
    return {"name": name, "label": label, "value": "" if value is None else value, "type": kind, **extra}


def _num(value: float | int | None) -> str:
    return "" if value is None else f"{value:g}"


def _fields(entry: corrections.Entry) -> list[dict[str, Any]]:
    """The form's fields, prefilled with the entry's values as charted."""
    r = entry.row
    if isinstance(r, m.VitalSign):
        bp = f"{r.systolic_mmhg}/{r.diastolic_mmhg}" if r.systolic_mmhg is not None else ""
        return [
            _field("bp", "BP", bp, required=True, placeholder="128/82"),
            _field("heart_rate", "HR", _num(r.heart_rate_bpm)),
            _field("spo2", "SpO₂ %", _num(r.spo2_percent)),
            _field("respiratory_rate", "RR", _num(r.respiratory_rate_per_min)),
        ]
    if isinstance(r, m.SideEffect):
        return [
            _field("kind", "Side effect", str(r.kind), "select", choices=[k.value for k in SideEffectKind]),
            _field("severity", "Severity", str(r.severity), "select", choices=[k.value for k in Severity]),
            _field("onset", "Onset", r.onset_at.astimezone(entry.zone).strftime("%H:%M"), "time"),
            _field("adverse_event", "Adverse event", r.is_adverse_event, "checkbox"),
            _field("notes", "Notes", r.notes),
        ]
    if isinstance(r, m.DoseOrder):
        return [
            _field(
                "protocol",
                "Protocol",
                r.protocol_code,
                "select",
                choices=[p.key for p in list_protocols()],
            ),
            _field("dose_mg_per_kg", "mg/kg", _num(r.dose_mg_per_kg)),
            _field("minutes", "Minutes", _num(r.duration_min)),
            _field("bag_mg", "Bag mg", _num(r.bag_drug_mg)),
            _field("bag_ml", "Bag mL", _num(r.bag_volume_ml)),
            _field("override_reason", "Reason beyond a soft limit (if needed)", r.override_reason),
        ]
    assert isinstance(r, m.QuestionnaireResponse)
    form = describe_instrument(r.instrument.value)
    return [
        _field(
            f"item_{item.number}",
            item.label,
            "" if answer is None else str(answer),
            "select",
            choices=["", *(str(v) for v in range(item.answer_min, item.answer_max + 1))],
        )
        for item, answer in zip(form.items, list(r.answers) + [None] * len(form.items), strict=False)
    ]


def _urls(entry: corrections.Entry, row_id: uuid.UUID) -> tuple[str, str, str]:
    """(this kind's correction page for `row_id`, where to go back to, what that link says)."""
    r = entry.row
    if isinstance(r, m.QuestionnaireResponse):
        return (
            f"/patients/{entry.patient.id}/questionnaires/{row_id}/correct",
            f"/patients/{entry.patient.id}#corrections",
            "the chart",
        )
    path = {m.VitalSign: "vitals", m.SideEffect: "side-effects", m.DoseOrder: "order"}[type(r)]
    anchor = {m.VitalSign: "#vitals", m.SideEffect: "#side-effects", m.DoseOrder: ""}[type(r)]
    return (
        f"/sessions/{r.session_id}/{path}/{row_id}/correct",
        f"/sessions/{r.session_id}{anchor}",
        "the infusion",
    )


def _page(
    request: Request,
    db: Db,
    who: Any,
    entry: corrections.Entry,
    *,
    typed: dict[str, str] | None = None,
    error: InvalidInput | Conflict | None = None,
    status_code: int = 200,
) -> Response:
    here, back, back_label = _urls(entry, entry.row.id)
    current_url, _, _ = _urls(entry, entry.current_id)
    fields = _fields(entry)
    if typed is not None:
        for f in fields:
            f["value"] = typed.get(f["name"], "")
    refusal = None
    if isinstance(entry.row, m.DoseOrder) and entry.can_correct:
        refusal = seating.order_locked(db, entry.row.session_id)
    return page(
        request,
        "correct.html",
        status_code=status_code,
        who=who,
        entry=entry,
        fields=fields,
        action=here,
        back=back,
        back_label=back_label,
        current_url=current_url,
        refusal=refusal,
        reason=(typed or {}).get("reason", ""),
        errors=FormErrors.of("correction", error, fields=[*(f["name"] for f in fields), "reason"])
        if error is not None
        else NO_ERRORS,
        zone=entry.zone,
    )


def _post(
    request: Request,
    db: Db,
    who: Any,
    reopen: Callable[[], corrections.Entry],
    typed: dict[str, str],
    action: Callable[[], object],
    back: str,
) -> Response:
    """Run the correction and go `back`; on a refusal roll back (nothing is kept) and show the page
    again with what was typed and the sentence."""
    try:
        action()
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        status = 409 if isinstance(exc, Conflict) else 400
        return _page(request, db, who, reopen(), typed=typed, error=exc, status_code=status)
    return RedirectResponse(back, status_code=303)


async def _typed(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v).strip() for k, v in form.items() if k != "csrf"}


# ---- vital signs -------------------------------------------------------------------------------------


@router.get("/sessions/{session_id}/vitals/{vital_id}/correct", include_in_schema=False)
def vitals_page(request: Request, session_id: uuid.UUID, vital_id: uuid.UUID, db: Db, who: Who) -> Response:
    entry = corrections.open_entry(db, who, m.VitalSign, vital_id, VITALS, session_id=session_id)
    return _page(request, db, who, entry)


@router.post("/sessions/{session_id}/vitals/{vital_id}/correct", include_in_schema=False)
async def vitals_form(
    request: Request, session_id: uuid.UUID, vital_id: uuid.UUID, db: Db, who: FormWho, now: Now
) -> Response:
    typed = await _typed(request)
    return _post(
        request,
        db,
        who,
        lambda: corrections.open_entry(db, who, m.VitalSign, vital_id, VITALS, session_id=session_id),
        typed,
        lambda: infusion.correct_vitals(
            db,
            who,
            session_id,
            vital_id,
            bp=typed.get("bp", ""),
            heart_rate=forms.whole(typed.get("heart_rate"), "heart_rate", "Heart rate"),
            spo2=forms.whole(typed.get("spo2"), "spo2", "SpO2"),
            respiratory_rate=forms.whole(
                typed.get("respiratory_rate"), "respiratory_rate", "Respiratory rate"
            ),
            reason=typed.get("reason", ""),
            now=now,
        ),
        f"/sessions/{session_id}#vitals",
    )


class VitalsCorrectionIn(BaseModel):
    bp: str = Field(description="The blood pressure as it should read, systolic/diastolic, e.g. 128/82")
    heart_rate: int | None = Field(None, description="As it should read; null: none was measured")
    spo2: int | None = None
    respiratory_rate: int | None = None
    reason: str = Field(description="Why the charted reading is wrong (required), e.g. typed 182 for 128")


@router.post("/api/sessions/{session_id}/vitals/{vital_id}/correct")
def vitals_api(
    session_id: uuid.UUID, vital_id: uuid.UUID, body: VitalsCorrectionIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Correct a charted reading (nurses, psychiatrists): the reading as it should read, with the
    reason. It is checked and classified as a new reading; the original stays. 409 if the
    reading was corrected since it was read (reload and correct the current version)."""
    row = infusion.correct_vitals(
        db,
        who,
        session_id,
        vital_id,
        bp=body.bp,
        heart_rate=body.heart_rate,
        spo2=body.spo2,
        respiratory_rate=body.respiratory_rate,
        reason=body.reason,
        now=now,
    )
    return {
        "id": str(row.id),
        "amends_id": str(vital_id),
        "measured_at": row.measured_at.isoformat(),
        "systolic": row.systolic,
        "diastolic": row.diastolic,
        "heart_rate": row.heart_rate,
        "spo2": row.spo2,
        "respiratory_rate": row.respiratory_rate,
        "level": row.level,
        "alerts": list(row.alerts),
        "amended": row.amended,
    }


# ---- side effects ------------------------------------------------------------------------------------


@router.get("/sessions/{session_id}/side-effects/{side_effect_id}/correct", include_in_schema=False)
def side_effect_page(
    request: Request, session_id: uuid.UUID, side_effect_id: uuid.UUID, db: Db, who: Who
) -> Response:
    entry = corrections.open_entry(db, who, m.SideEffect, side_effect_id, SIDE_EFFECT, session_id=session_id)
    return _page(request, db, who, entry)


@router.post("/sessions/{session_id}/side-effects/{side_effect_id}/correct", include_in_schema=False)
async def side_effect_form(
    request: Request, session_id: uuid.UUID, side_effect_id: uuid.UUID, db: Db, who: FormWho, now: Now
) -> Response:
    typed = await _typed(request)
    return _post(
        request,
        db,
        who,
        lambda: corrections.open_entry(
            db, who, m.SideEffect, side_effect_id, SIDE_EFFECT, session_id=session_id
        ),
        typed,
        lambda: chairside.correct_side_effect(
            db,
            who,
            session_id,
            side_effect_id,
            kind=typed.get("kind", ""),
            severity=typed.get("severity", ""),
            onset=chairside.parse_clock(typed.get("onset"), "The onset time"),
            adverse_event=forms.ticked(typed.get("adverse_event")),
            notes=typed.get("notes"),
            reason=typed.get("reason", ""),
            now=now,
        ),
        f"/sessions/{session_id}#side-effects",
    )


class SideEffectCorrectionIn(BaseModel):
    kind: str = Field(description="As it should read: nausea, vomiting, faintness, dizziness, headache, ...")
    severity: str = Field(description="mild, moderate or severe")
    onset_at: datetime | None = Field(
        None, description="When it began (with time zone); omitted keeps the charted onset"
    )
    adverse_event: bool = False
    notes: str | None = None
    reason: str = Field(description="Why the charted entry is wrong (required)")


@router.post("/api/sessions/{session_id}/side-effects/{side_effect_id}/correct")
def side_effect_api(
    session_id: uuid.UUID,
    side_effect_id: uuid.UUID,
    body: SideEffectCorrectionIn,
    db: Db,
    who: ApiWho,
    now: Now,
) -> dict[str, Any]:
    """Correct a charted side effect (nurses, psychiatrists), even after discharge: the entry as it
    should read, with the reason; whether it resolved is kept. 409 if it changed since it was read."""
    row = chairside.correct_side_effect(
        db,
        who,
        session_id,
        side_effect_id,
        kind=body.kind,
        severity=body.severity,
        onset=body.onset_at,
        adverse_event=body.adverse_event,
        notes=body.notes,
        reason=body.reason,
        now=now,
    )
    return {**side_effect_json(row), "amendment_reason": row.amendment_reason}


# ---- dose orders -------------------------------------------------------------------------------------


@router.get("/sessions/{session_id}/order/{order_id}/correct", include_in_schema=False)
def order_page(request: Request, session_id: uuid.UUID, order_id: uuid.UUID, db: Db, who: Who) -> Response:
    entry = corrections.open_entry(db, who, m.DoseOrder, order_id, ORDER, session_id=session_id)
    return _page(request, db, who, entry)


@router.post("/sessions/{session_id}/order/{order_id}/correct", include_in_schema=False)
async def order_form(
    request: Request, session_id: uuid.UUID, order_id: uuid.UUID, db: Db, who: FormWho, now: Now
) -> Response:
    typed = await _typed(request)
    return _post(
        request,
        db,
        who,
        lambda: corrections.open_entry(db, who, m.DoseOrder, order_id, ORDER, session_id=session_id),
        typed,
        lambda: seating.correct_dose_order(
            db,
            who,
            session_id,
            order_id,
            protocol=typed.get("protocol", ""),
            dose_mg_per_kg=forms.number(typed.get("dose_mg_per_kg"), "dose_mg_per_kg", "Dose (mg/kg)"),
            minutes=forms.number(typed.get("minutes"), "minutes", "Minutes"),
            bag_mg=forms.number(typed.get("bag_mg"), "bag_mg", "Bag drug (mg)") or 0.0,
            bag_ml=forms.number(typed.get("bag_ml"), "bag_ml", "Bag volume (mL)") or 0.0,
            override_reason=typed.get("override_reason", ""),
            reason=typed.get("reason", ""),
            now=now,
        ),
        f"/sessions/{session_id}",
    )


class OrderCorrectionIn(BaseModel):
    protocol: str = Field(description="The protocol as it should read, e.g. depression-induction")
    dose_mg_per_kg: float | None = Field(None, description="null: the protocol's dose")
    minutes: float | None = Field(None, description="null: the protocol's duration")
    bag_mg: float
    bag_ml: float
    override_reason: str = Field("", description="Needed when the corrected dose is beyond a soft limit")
    reason: str = Field(description="Why the charted order is wrong (required)")


@router.post("/api/sessions/{session_id}/order/{order_id}/correct")
def order_api(
    session_id: uuid.UUID, order_id: uuid.UUID, body: OrderCorrectionIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Correct a dose order before the pump starts (psychiatrists): computed and checked against the
    soft and hard limits as a new order. After the pump has started it is refused (409) with what
    to do instead; 409 too if the order was corrected since it was read."""
    row = seating.correct_dose_order(
        db,
        who,
        session_id,
        order_id,
        protocol=body.protocol,
        dose_mg_per_kg=body.dose_mg_per_kg,
        minutes=body.minutes,
        bag_mg=body.bag_mg,
        bag_ml=body.bag_ml,
        override_reason=body.override_reason,
        reason=body.reason,
        now=now,
    )
    return {
        "id": str(row.id),
        "amends_id": str(order_id),
        "protocol": row.protocol_code,
        "dose_mg_per_kg": row.dose_mg_per_kg,
        "dose_mg": row.dose_mg,
        "duration_min": row.duration_min,
        "rate_ml_per_h": row.rate_ml_per_h,
        "volume_ml": row.volume_ml,
        "limit_status": row.limit_status,
        "amendment_reason": row.amendment_reason,
    }


# ---- questionnaire answers ---------------------------------------------------------------------------


@router.get("/patients/{patient_id}/questionnaires/{response_id}/correct", include_in_schema=False)
def answers_page(
    request: Request, patient_id: uuid.UUID, response_id: uuid.UUID, db: Db, who: Who
) -> Response:
    entry = corrections.open_entry(
        db, who, m.QuestionnaireResponse, response_id, ANSWERS, patient_id=patient_id
    )
    return _page(request, db, who, entry)


def _answers(typed: dict[str, str]) -> list[int | None]:
    """The items as typed (item_1, item_2, ...: the form sends every item, blank when unanswered)."""
    numbers = sorted(int(k[5:]) for k in typed if k.startswith("item_") and k[5:].isdigit())
    out: list[int | None] = []
    for i in range(1, (numbers[-1] if numbers else 0) + 1):
        text = typed.get(f"item_{i}", "")
        if not text:
            out.append(None)
            continue
        try:
            out.append(int(text))
        except ValueError:
            raise InvalidInput(f"Item {i} must be a whole number; got {text!r}.") from None
    return out


@router.post("/patients/{patient_id}/questionnaires/{response_id}/correct", include_in_schema=False)
async def answers_form(
    request: Request, patient_id: uuid.UUID, response_id: uuid.UUID, db: Db, who: FormWho, now: Now
) -> Response:
    typed = await _typed(request)
    return _post(
        request,
        db,
        who,
        lambda: corrections.open_entry(
            db, who, m.QuestionnaireResponse, response_id, ANSWERS, patient_id=patient_id
        ),
        typed,
        lambda: corrections.correct_questionnaire(
            db,
            who,
            patient_id,
            response_id,
            answers=_answers(typed),
            reason=typed.get("reason", ""),
            now=now,
        ),
        f"/patients/{patient_id}#corrections",
    )


class AnswersCorrectionIn(BaseModel):
    answers: list[int | None] = Field(description="Every item's answer as it should read, in item order")
    reason: str = Field(description="Why the charted answers are wrong (required)")


@router.post("/api/patients/{patient_id}/questionnaires/{response_id}/correct")
def answers_api(
    patient_id: uuid.UUID, response_id: uuid.UUID, body: AnswersCorrectionIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Correct a questionnaire's answers: a clinician-rated one (CADSS) by nurses and psychiatrists,
    the patient's own answers by a psychiatrist only. Scored again as a new answer (alerts
    included); the original stays. 409 if the answers were corrected since they were read."""
    done = corrections.correct_questionnaire(
        db, who, patient_id, response_id, answers=body.answers, reason=body.reason, now=now
    )
    r, s = done.response, done.scored
    return {
        "id": str(r.id),
        "amends_id": str(response_id),
        "instrument": r.instrument.value,
        "answers": r.answers,
        "total": r.total,
        "severity": s.severity,
        "alerts": [{"kind": a.kind, "item": a.item, "message": a.message} for a in s.alerts],
        "answered_at": r.answered_at.isoformat(),
        "amendment_reason": r.amendment_reason,
    }
