"""Controlled substances (issue 14): the clinic's safe and an infusion's ketamine, pages and JSON API.

Every step is a use case of `ketaflow.services.controlled`, which checks it against the ledger's
rules; a witness types their own e-mail and password (and code) on the same form.
"""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaflow.errors import Conflict, Forbidden, InvalidInput, NotFound
from ketaflow.services import controlled
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinics import clinic_for
from ketaflow.services.permissions import Action
from ketaflow.services.witness import WitnessCredentials
from ketaflow.web import forms
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who, page

router = APIRouter()

TEXT = 200


class WitnessIn(BaseModel):
    """The second person's own credentials, typed by them on the same form."""

    witness_email: str = Field(max_length=254)
    witness_password: str = Field(max_length=1024)
    witness_code: str = Field(default="", max_length=32)

    def credentials(self) -> WitnessCredentials:
        return WitnessCredentials(self.witness_email, self.witness_password, self.witness_code)


class DeliveryIn(BaseModel):
    product_id: uuid.UUID
    location_id: uuid.UUID
    lot_number: str = Field(min_length=1, max_length=40)
    expires_on: date
    vials: int = Field(ge=1, le=1000)
    supplier: str = Field(min_length=1, max_length=TEXT)
    supplier_dea: str = Field(min_length=1, max_length=TEXT)
    invoice: str = Field(min_length=1, max_length=TEXT)


class CountIn(WitnessIn):
    counted_mg: Decimal = Field(ge=0, lt=Decimal("1e9"), allow_inf_nan=False)


class AdjustIn(WitnessIn):
    mg: Decimal = Field(gt=Decimal("-1e9"), lt=Decimal("1e9"), allow_inf_nan=False)
    reason: str = Field(min_length=1, max_length=2000)
    vial_id: uuid.UUID | None = None


class DrawIn(BaseModel):
    vial_id: uuid.UUID


def _balance(r: controlled.LotReport) -> dict[str, Any]:
    b = r.balance
    return {
        "lot_id": str(r.lot_id),
        "lot": r.lot,
        "product": r.product,
        "expires_on": r.expires_on.isoformat(),
        "received_mg": float(b.received_mg),
        "administered_mg": float(b.administered_mg),
        "wasted_mg": float(b.wasted_mg),
        "destroyed_mg": float(b.destroyed_mg),
        "adjusted_mg": float(b.adjusted_mg),
        "on_hand_mg": float(b.on_hand_mg),
        "in_safe_mg": float(b.in_safe_mg),
        "in_bags_mg": float(b.in_bags_mg),
        "discrepancy_mg": None if b.discrepancy_mg is None else float(b.discrepancy_mg),
        "balances": b.balances(),
    }


def _line(line: controlled.LedgerLine) -> dict[str, Any]:
    return {
        "kind": line.kind,
        "at": line.at.isoformat(),
        "lot": line.lot,
        "quantity_mg": float(line.quantity_mg),
        "quantity_ml": None if line.quantity_ml is None else float(line.quantity_ml),
        "by": line.by,
        "witness": line.witness,
        "patient_id": str(line.patient_id) if line.patient_id else None,
        "dose_order_id": str(line.dose_order_id) if line.dose_order_id else None,
        "reason": line.reason,
    }


def _entry(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "kind": str(row.kind.value if hasattr(row.kind, "value") else row.kind),
        "at": row.occurred_at.isoformat(),
        "quantity_mg": float(row.quantity_mg),
        "witness_id": str(row.witness_id) if row.witness_id else None,
    }


# ---- JSON API -----------------------------------------------------------------------------


@router.get("/api/clinics/{code}/controlled")
def stock_api(code: str, db: Db, who: Who, now: Now) -> dict[str, Any]:
    """Every lot's balance (received = administered + wasted + destroyed + adjusted + on hand),
    the lots expired or expiring soon, and the latest ledger entries."""
    view = controlled.stock_view(db, who, code, now)
    return {
        "clinic": view.clinic.code,
        "lots": [_balance(r) for r in view.lots],
        "expiring": [r.lot for r in view.expiring],
        "expiring_within_days": controlled.EXPIRING_SOON_DAYS,
        "recent": [_line(x) for x in view.entries],
    }


@router.get("/api/clinics/{code}/controlled/ledger")
def ledger_api(
    code: str, db: Db, who: Who, start: date | None = None, end: date | None = None
) -> dict[str, Any]:
    """Every ledger entry in time order; `start` and `end` are UTC days, both inclusive."""
    from datetime import UTC, time, timedelta

    clinic = clinic_for(db, who, code, Action.VIEW_CONTROLLED)
    if start and end and end < start:
        raise InvalidInput("The end day is before the start day; swap them.")
    lines = controlled.ledger_lines(
        db,
        who,
        clinic.id,
        start=datetime.combine(start, time(), UTC) if start else None,
        end=datetime.combine(end + timedelta(days=1), time(), UTC) if end else None,
        actor=who.actor(),
    )
    return {"clinic": clinic.code, "entries": [_line(x) for x in lines]}


def _receive(db: Db, who: CurrentUser, code: str, body: DeliveryIn, now: datetime) -> Any:
    clinic = clinic_for(db, who, code, Action.MANAGE_CONTROLLED)
    delivery = controlled.Delivery(**body.model_dump(), received_at=now)
    return controlled.receive(db, who, clinic.id, delivery, actor=who.actor())


@router.post("/api/clinics/{code}/controlled/deliveries", status_code=201)
def receive_api(code: str, body: DeliveryIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Receive a delivery into the safe (the director): the lot, its vials, the receipt entry."""
    lot = _receive(db, who, code, body, now)
    return {"lot_id": str(lot.id), "lot": lot.lot_number}


@router.post("/api/controlled/lots/{lot_id}/counts", status_code=201)
def count_api(lot_id: uuid.UUID, body: CountIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Two people count a lot in the safe (a nurse and a witness who signs in here)."""
    balance = controlled.count(
        db, who, lot_id, body.counted_mg, body.credentials(), at=now, actor=who.actor()
    )
    gap = balance.discrepancy_mg
    return {"counted_mg": float(body.counted_mg), "discrepancy_mg": None if gap is None else float(gap)}


@router.post("/api/controlled/lots/{lot_id}/adjustments", status_code=201)
def adjust_api(lot_id: uuid.UUID, body: AdjustIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """The director books an investigated discrepancy (negative mg: missing), with a witness."""
    row = controlled.adjust(
        db,
        who,
        lot_id,
        body.mg,
        body.reason,
        body.credentials(),
        at=now,
        actor=who.actor(),
        vial_id=body.vial_id,
    )
    return _entry(row)


@router.post("/api/sessions/{session_id}/draws", status_code=201)
def draw_api(session_id: uuid.UUID, body: DrawIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Draw the dose order's bag content from a vial (as much as is still to draw)."""
    return _entry(controlled.draw_for_session(db, who, session_id, body.vial_id, at=now, actor=who.actor()))


@router.post("/api/sessions/{session_id}/administered", status_code=201)
def administered_api(session_id: uuid.UUID, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Book what the pump gave against the infusion's draws, once the pump has stopped."""
    rows = controlled.book_administered(db, who, session_id, at=now, actor=who.actor())
    return {"entries": [_entry(r) for r in rows]}


@router.post("/api/controlled/draws/{draw_id}/waste", status_code=201)
def waste_api(draw_id: uuid.UUID, body: WitnessIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Waste what is left of a drawn bag before a witness who signs in here."""
    return _entry(controlled.waste_remainder(db, who, draw_id, body.credentials(), at=now, actor=who.actor()))


# ---- the pages ----------------------------------------------------------------------------

REFUSALS = (InvalidInput, Conflict, Forbidden, NotFound)


def _stock_page(
    request: Request,
    db: Db,
    who: CurrentUser,
    code: str,
    now: datetime,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    view = controlled.stock_view(db, who, code, now)
    extra.setdefault("form", {})
    extra.setdefault("errors", forms.NO_ERRORS)
    extra.setdefault("notice", None)
    return page(
        request,
        "controlled_stock.html",
        status_code=status_code,
        who=who,
        view=view,
        clinic=view.clinic,
        soon_days=controlled.EXPIRING_SOON_DAYS,
        **extra,
    )


@router.get("/clinics/{code}/controlled", include_in_schema=False)
def stock_page(request: Request, code: str, db: Db, who: Who, now: Now) -> Response:
    return _stock_page(request, db, who, code, now)


@router.post("/clinics/{code}/controlled/deliveries", include_in_schema=False)
def receive_form(
    request: Request, code: str, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    try:
        lot = _receive(db, who, code, forms.read(DeliveryIn, posted), now)
    except REFUSALS as exc:
        db.rollback()
        errors = forms.FormErrors.of("delivery", exc, fields=posted)
        return _stock_page(request, db, who, code, now, status_code=_status(exc), form=posted, errors=errors)
    return _stock_page(request, db, who, code, now, notice=f"Lot {lot.lot_number} is received into the safe.")


@router.post("/clinics/{code}/controlled/lots/{lot_id}/count", include_in_schema=False)
def count_form(
    request: Request, code: str, lot_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    at = f"count-{lot_id}"
    try:
        body = forms.read(CountIn, posted)
        balance = controlled.count(
            db, who, lot_id, body.counted_mg, body.credentials(), at=now, actor=who.actor()
        )
    except REFUSALS as exc:
        db.rollback()
        errors = forms.FormErrors.of(at, exc, fields=posted)
        kept = {k: v for k, v in posted.items() if k != "witness_password"}
        return _stock_page(request, db, who, code, now, status_code=_status(exc), form=kept, errors=errors)
    gap = balance.discrepancy_mg
    notice = (
        "The count matches the ledger."
        if not gap
        else (
            f"The count differs from the ledger by {gap:+f} mg: tell the director, "
            "who investigates and books it."
        )
    )
    return _stock_page(request, db, who, code, now, notice=notice)


def _status(exc: Exception) -> int:
    """The status the app gives this refusal everywhere else (web/forms.STATUS_FOR)."""
    return next((code for cls, code in forms.STATUS_FOR.items() if isinstance(exc, cls)), 400)


def _session_page(
    request: Request,
    db: Db,
    who: CurrentUser,
    session_id: uuid.UUID,
    now: datetime,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    view = controlled.session_stock(db, who, session_id, now)
    extra.setdefault("form", {})
    extra.setdefault("errors", forms.NO_ERRORS)
    extra.setdefault("notice", None)
    return page(request, "controlled_session.html", status_code=status_code, who=who, view=view, **extra)


DONE = {
    "drawn": "The draw is recorded.",
    "booked": "What the pump gave is booked.",
    "wasted": "The waste is recorded with its witness.",
}


@router.get("/sessions/{session_id}/controlled", include_in_schema=False)
def session_page(
    request: Request, session_id: uuid.UUID, db: Db, who: Who, now: Now, done: str = ""
) -> Response:
    return _session_page(request, db, who, session_id, now, notice=DONE.get(done))


def _after(
    request: Request,
    db: Db,
    who: CurrentUser,
    session_id: uuid.UUID,
    now: datetime,
    step: Any,
    at: str,
    posted: dict[str, str],
    notice: str,
) -> Response:
    try:
        step()
    except REFUSALS as exc:
        db.rollback()
        errors = forms.FormErrors.of(at, exc, fields=posted)
        kept = {k: v for k, v in posted.items() if k != "witness_password"}
        return _session_page(
            request, db, who, session_id, now, status_code=_status(exc), form=kept, errors=errors
        )
    return RedirectResponse(f"/sessions/{session_id}/controlled?done={notice}", status_code=303)


@router.post("/sessions/{session_id}/controlled/draw", include_in_schema=False)
def draw_form(
    request: Request, session_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    def step() -> None:
        body = forms.read(DrawIn, posted)
        controlled.draw_for_session(db, who, session_id, body.vial_id, at=now, actor=who.actor())

    return _after(request, db, who, session_id, now, step, "draw", posted, "drawn")


@router.post("/sessions/{session_id}/controlled/administered", include_in_schema=False)
def administered_form(
    request: Request, session_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    def step() -> None:
        controlled.book_administered(db, who, session_id, at=now, actor=who.actor())

    return _after(request, db, who, session_id, now, step, "administered", posted, "booked")


@router.post("/sessions/{session_id}/controlled/draws/{draw_id}/waste", include_in_schema=False)
def waste_form(
    request: Request,
    session_id: uuid.UUID,
    draw_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    posted: forms.Posted,
) -> Response:
    def step() -> None:
        body = forms.read(WitnessIn, posted)
        controlled.waste_remainder(db, who, draw_id, body.credentials(), at=now, actor=who.actor())

    return _after(request, db, who, session_id, now, step, f"waste-{draw_id}", posted, "wasted")
