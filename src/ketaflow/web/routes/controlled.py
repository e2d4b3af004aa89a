"""Controlled substances (issue 14): the clinic's safe and an infusion's ketamine, pages and JSON API.

Every step is a use case of `ketaflow.services.controlled`, which checks it against the ledger's
rules; a witness types their own e-mail and password (and code) on the same form.
"""

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from ketaflow.controlled.losses import AdjustmentCause
from ketaflow.errors import Conflict, InvalidInput, WitnessRefused
from ketaflow.services import controlled, controlled_reports
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
    cause: AdjustmentCause = AdjustmentCause.COUNTING_ERROR
    vial_id: uuid.UUID | None = None


class AdjustFormIn(AdjustIn):
    lot_id: uuid.UUID


class DestructionIn(WitnessIn):
    reason: str = Field(min_length=1, max_length=TEXT)
    reverse_distributor: str = Field(min_length=1, max_length=TEXT)
    distributor_dea: str = Field(min_length=1, max_length=TEXT)
    method: str = Field(min_length=1, max_length=TEXT)

    def destruction(self, vial_id: uuid.UUID) -> controlled.Destruction:
        return controlled.Destruction(
            vial_id, self.reason, self.reverse_distributor, self.distributor_dea, self.method
        )


class DestructionFormIn(DestructionIn):
    vial_id: uuid.UUID


class RegistrationIn(BaseModel):
    dea_registration: str = Field(min_length=1, max_length=20)


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


def _ledger(
    db: Db, who: CurrentUser, code: str, start: date | None, end: date | None
) -> tuple[Any, list[controlled.LedgerLine]]:
    from datetime import UTC, time

    clinic = clinic_for(db, who, code, Action.VIEW_CONTROLLED)
    if start and end and end < start:
        raise InvalidInput("The end day is before the start day; swap them.", field="end")
    lines = controlled.ledger_lines(
        db,
        who,
        clinic.id,
        start=datetime.combine(start, time(), UTC) if start else None,
        end=datetime.combine(end + timedelta(days=1), time(), UTC) if end else None,
        actor=who.actor(),
    )
    return clinic, lines


@router.get("/api/clinics/{code}/controlled/ledger")
def ledger_api(
    code: str, db: Db, who: Who, start: date | None = None, end: date | None = None
) -> dict[str, Any]:
    """Every ledger entry in time order; `start` and `end` are UTC days, both inclusive."""
    clinic, lines = _ledger(db, who, code, start, end)
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
        cause=body.cause,
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


@router.post("/api/controlled/vials/{vial_id}/destruction", status_code=201)
def destroy_api(vial_id: uuid.UUID, body: DestructionIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """The director hands a vial (what is left in it) to a reverse distributor, with a witness;
    the DEA Form 41 details are kept with the entry."""
    row = controlled.destroy(
        db, who, body.destruction(vial_id), body.credentials(), at=now, actor=who.actor()
    )
    return _entry(row)


@router.put("/api/clinics/{code}/controlled/registration")
def registration_api(code: str, body: RegistrationIn, db: Db, who: ApiWho) -> dict[str, Any]:
    """The clinic's DEA registration number (the director), checked for shape and check digit."""
    clinic = clinic_for(db, who, code, Action.MANAGE_CONTROLLED)
    number = controlled_reports.set_registration(db, who, clinic, body.dea_registration, actor=who.actor())
    return {"clinic": clinic.code, "dea_registration": number}


def _inventory(
    db: Db, who: CurrentUser, code: str, day: date | None, close: bool, now: datetime
) -> tuple[Any, Any]:
    from zoneinfo import ZoneInfo

    clinic = clinic_for(db, who, code, Action.VIEW_CONTROLLED)
    if day is None:  # the latest close of business: yesterday's, in the clinic's own time
        day, close = now.astimezone(ZoneInfo(clinic.timezone)).date() - timedelta(days=1), True
    at = controlled_reports.inventory_moment(clinic, day, close_of_business=close)
    if at > now:
        raise InvalidInput(
            "That inventory's moment has not come yet; choose an earlier day, or the opening of today.",
            field="day",
        )
    report = controlled_reports.inventory(db, who, clinic, at=at, close_of_business=close, actor=who.actor())
    return clinic, report


def _inventory_json(clinic: Any, report: Any) -> dict[str, Any]:
    return {
        "clinic": clinic.code,
        "registrant": clinic.name,
        "dea_registration": clinic.dea_registration,
        "at": report.at.isoformat(),
        "taken_at": "close of business" if report.close_of_business else "opening of business",
        "on_hand_mg": float(report.on_hand_mg),
        "lines": [
            {
                "ndc": line.ndc,
                "name": line.name,
                "strength": line.strength,
                "dosage_form": line.dosage_form,
                "lot": line.lot,
                "expires_on": line.expires_on.isoformat(),
                "unopened_vials": line.unopened_vials,
                "unopened_mg": float(line.unopened_mg),
                "opened_vials": line.opened_vials,
                "opened_mg": float(line.opened_mg),
                "opened_ml": float(line.opened_ml),
                "in_bags_mg": float(line.in_bags_mg),
                "on_hand_mg": float(line.on_hand_mg),
                "counted_at": line.counted_at.isoformat() if line.counted_at else None,
                "counted_mg": None if line.counted_mg is None else float(line.counted_mg),
                "discrepancy_mg": None if line.discrepancy_mg is None else float(line.discrepancy_mg),
            }
            for line in report.lines
        ],
    }


@router.get("/api/clinics/{code}/controlled/inventory")
def inventory_api(
    code: str, db: Db, who: Who, now: Now, day: date | None = None, close: bool = True
) -> dict[str, Any]:
    """The biennial inventory (21 CFR 1304.11): every controlled substance on hand at the opening
    or close of business of `day` (the clinic's local day; default: yesterday's close), lot by lot."""
    clinic, report = _inventory(db, who, code, day, close, now)
    return _inventory_json(clinic, report)


def _form_106_json(draft: Any) -> dict[str, Any]:
    return {
        "adjustment_id": str(draft.adjustment_id),
        "registrant": {
            "name": draft.registrant.name,
            "dea_registration": draft.registrant.dea_number,
            "address": draft.registrant.address,
            "phone": draft.registrant.phone,
        },
        "principal_business": draft.principal_business,
        "discovered_on": draft.discovered_on.isoformat(),
        "notify_dea_by": draft.notify_by.isoformat(),
        "type_of_loss": draft.type_of_loss,
        "losses_in_past_24_months": draft.losses_in_past_24_months,
        "substances": [
            {
                "ndc": x.ndc,
                "name": x.name,
                "strength": x.strength,
                "dosage_form": x.dosage_form,
                "lot": x.lot,
                "quantity_mg": float(x.quantity_mg),
                "quantity_ml": float(x.quantity_ml),
            }
            for x in draft.substances
        ],
        "investigation": draft.reason,
        "booked_by": draft.booked_by,
        "witness": draft.witness,
        "to_complete": list(draft.to_complete),
    }


@router.get("/api/controlled/adjustments/{entry_id}/form-106")
def form_106_api(entry_id: uuid.UUID, db: Db, who: Who) -> dict[str, Any]:
    """The draft DEA Form 106 of an adjustment confirmed as theft or loss (the director)."""
    return _form_106_json(controlled_reports.loss_report(db, who, entry_id, actor=who.actor()))


# ---- the pages ----------------------------------------------------------------------------

# What a form shows beside its fields. Any other refusal (the person at the keyboard may not do
# this, or the record is not theirs to see) reaches the app's handler, which audits it.
REFUSALS = (InvalidInput, Conflict, WitnessRefused)


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
        adjustments=controlled_reports.adjustments(db, view.clinic.id),
        destroyable=(
            controlled_reports.destroyable_vials(db, view.clinic.id, now.date()) if view.may_receive else []
        ),
        causes=list(AdjustmentCause),
        **extra,
    )


def _stock_form(
    request: Request,
    db: Db,
    who: CurrentUser,
    code: str,
    now: datetime,
    posted: dict[str, str],
    at: str,
    step: Any,
) -> Response:
    """Run `step` (which returns the notice); on a refusal, the stock page with the form kept
    (never the witness's password) and the message beside its field."""
    try:
        notice = step()
    except REFUSALS as exc:
        db.rollback()
        errors = forms.FormErrors.of(at, exc, fields=posted)
        kept = {k: v for k, v in posted.items() if k != "witness_password"}
        return _stock_page(request, db, who, code, now, status_code=_status(exc), form=kept, errors=errors)
    return _stock_page(request, db, who, code, now, notice=notice)


@router.get("/clinics/{code}/controlled", include_in_schema=False)
def stock_page(request: Request, code: str, db: Db, who: Who, now: Now) -> Response:
    return _stock_page(request, db, who, code, now)


@router.post("/clinics/{code}/controlled/deliveries", include_in_schema=False)
def receive_form(
    request: Request, code: str, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    def step() -> str:
        lot = _receive(db, who, code, forms.read(DeliveryIn, posted), now)
        return f"Lot {lot.lot_number} is received into the safe."

    return _stock_form(request, db, who, code, now, posted, "delivery", step)


@router.post("/clinics/{code}/controlled/lots/{lot_id}/count", include_in_schema=False)
def count_form(
    request: Request, code: str, lot_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    def step() -> str:
        body = forms.read(CountIn, posted)
        balance = controlled.count(
            db, who, lot_id, body.counted_mg, body.credentials(), at=now, actor=who.actor()
        )
        gap = balance.discrepancy_mg
        if not gap:
            return "The count matches the ledger."
        return (
            f"The count differs from the ledger by {gap:+f} mg: tell the director, "
            "who investigates and books it."
        )

    return _stock_form(request, db, who, code, now, posted, f"count-{lot_id}", step)


@router.post("/clinics/{code}/controlled/adjustments", include_in_schema=False)
def adjust_form(
    request: Request, code: str, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    def step() -> str:
        body = forms.read(AdjustFormIn, posted)
        row = controlled.adjust(
            db,
            who,
            body.lot_id,
            body.mg,
            body.reason,
            body.credentials(),
            at=now,
            actor=who.actor(),
            cause=body.cause,
        )
        if body.cause.reportable:
            return (
                f"The adjustment of {row.quantity_mg:+f} mg is booked as a {body.cause.value}. Report it to "
                "DEA within one business day of discovery: its draft Form 106 is listed under Adjustments."
            )
        return f"The adjustment of {row.quantity_mg:+f} mg is booked."

    return _stock_form(request, db, who, code, now, posted, "adjust", step)


@router.post("/clinics/{code}/controlled/destructions", include_in_schema=False)
def destroy_form(
    request: Request, code: str, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    def step() -> str:
        body = forms.read(DestructionFormIn, posted)
        row = controlled.destroy(
            db, who, body.destruction(body.vial_id), body.credentials(), at=now, actor=who.actor()
        )
        return f"{row.quantity_mg:f} mg is booked as handed to the reverse distributor."

    return _stock_form(request, db, who, code, now, posted, "destroy", step)


@router.post("/clinics/{code}/controlled/registration", include_in_schema=False)
def registration_form(
    request: Request, code: str, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    def step() -> str:
        body = forms.read(RegistrationIn, posted)
        clinic = clinic_for(db, who, code, Action.MANAGE_CONTROLLED)
        number = controlled_reports.set_registration(
            db, who, clinic, body.dea_registration, actor=who.actor()
        )
        return f"The clinic's DEA registration number is now {number}."

    return _stock_form(request, db, who, code, now, posted, "registration", step)


@router.get("/clinics/{code}/controlled/inventory", include_in_schema=False)
def inventory_page(
    request: Request, code: str, db: Db, who: Who, now: Now, day: str = "", close: str = "1"
) -> Response:
    chosen: date | None = None
    error = None
    if day:
        try:
            chosen = date.fromisoformat(day)
        except ValueError:
            error = "Give the day as a date (YYYY-MM-DD)."
    report = clinic = None
    if error is None:
        try:
            clinic, report = _inventory(db, who, code, chosen, close != "0", now)
        except InvalidInput as exc:
            error = exc.message
    if clinic is None:
        clinic = clinic_for(db, who, code, Action.VIEW_CONTROLLED)
    return page(
        request,
        "controlled_inventory.html",
        status_code=200 if error is None else 400,
        who=who,
        clinic=clinic,
        report=report,
        day=day,
        close=close != "0",
        error=error,
    )


@router.get("/clinics/{code}/controlled/ledger", include_in_schema=False)
def ledger_page(request: Request, code: str, db: Db, who: Who, start: str = "", end: str = "") -> Response:
    """The whole ledger (or the days chosen), for the director and an inspector's visit."""
    error = None
    days: list[date | None] = []
    for text in (start, end):
        try:
            days.append(date.fromisoformat(text) if text else None)
        except ValueError:
            error = "Give the days as dates (YYYY-MM-DD)."
    clinic: Any = None
    lines: list[controlled.LedgerLine] = []
    if error is None:
        try:
            clinic, lines = _ledger(db, who, code, days[0], days[1])
        except InvalidInput as exc:
            error = exc.message
    if clinic is None:
        clinic = clinic_for(db, who, code, Action.VIEW_CONTROLLED)
    return page(
        request,
        "controlled_ledger.html",
        status_code=200 if error is None else 400,
        who=who,
        clinic=clinic,
        lines=lines,
        start=start,
        end=end,
        error=error,
    )


@router.get("/controlled/adjustments/{entry_id}/form-106", include_in_schema=False)
def form_106_page(request: Request, entry_id: uuid.UUID, db: Db, who: Who) -> Response:
    draft = controlled_reports.loss_report(db, who, entry_id, actor=who.actor())
    return page(request, "controlled_form_106.html", who=who, draft=draft)


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
