"""A clinic's opening hours, closures and booking horizon: the page and the JSON API."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from ketaflow.errors import Conflict, InvalidInput, NotFound
from ketaflow.hours import WEEKDAYS, parse_week
from ketaflow.services import clinic_hours
from ketaflow.services.auth import CurrentUser
from ketaflow.web import forms
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who, page

router = APIRouter()

POLICY = "Opening hours, closures and the booking horizon are clinic settings, not clinical figures."


def _closure(c: clinic_hours.ClosureEntry) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "first_day": c.first_day.isoformat(),
        "last_day": c.last_day.isoformat(),
        "reason": c.reason,
        "when": c.closure.when(),
        "created_at": c.created_at.isoformat(),
    }


def _unfit(u: clinic_hours.Unfit) -> dict[str, Any]:
    return {
        "appointment_id": str(u.appointment_id),
        "patient_id": str(u.patient_id),
        "patient_name": u.patient_name,
        "kind": u.kind,
        "starts_at": u.starts_at.isoformat(),
        "ends_at": u.ends_at.isoformat(),
        "chair": u.chair_label,
        "problem": u.problem,
    }


def _hours(v: clinic_hours.ClinicHoursView) -> dict[str, Any]:
    return {
        "clinic": v.clinic.code,
        "name": v.clinic.name,
        "timezone": v.clinic.timezone,
        "version": v.clinic.version,
        "week": v.week.data(),
        "summary": v.week.summary(),
        "booking_horizon_days": v.clinic.booking_horizon_days,
        "bookable_until": v.bookable_until.isoformat(),
        "closures": [_closure(c) for c in v.closures],
        "may_edit": v.may_edit,
        "policy": POLICY,
    }


# ---- JSON API -----------------------------------------------------------------------------


@router.get("/api/clinics/{code}/hours")
def hours_api(code: str, db: Db, who: Who, now: Now) -> dict[str, Any]:
    """The clinic's opening hours per weekday (local wall-clock time), closures to come and
    booking horizon."""
    return _hours(clinic_hours.hours_view(db, who, code, now))


class HoursIn(BaseModel):
    """The week's hours, as the hours form (one field a day, flattened by `_hours_in`) and the JSON
    API send them."""

    version: int
    # Every day of the week: "08:00-18:30", "08:00-12:00, 13:00-18:30", "closed" or a list of spans.
    week: dict[str, str | list[str] | None]
    booking_horizon_days: Annotated[int | None, forms.as_whole("The booking horizon (days)")] = None

    def check(self) -> None:
        """The checks that need no database (forms.read runs them with a field it cannot read)."""
        parse_week(self.week)


def _set_hours(db: Db, who: CurrentUser, code: str, body: HoursIn, now: Any) -> Any:
    return clinic_hours.set_hours(
        db,
        who,
        code,
        week=body.week,
        expected_version=body.version,
        booking_horizon_days=body.booking_horizon_days,
        now=now,
    )


@router.put("/api/clinics/{code}/hours")
def set_hours_api(code: str, body: HoursIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Replace the weekly hours (all seven days) and optionally the booking horizon (admin and
    director); 409 if the clinic changed since `version`. Lists bookings to come left outside."""
    view, unfit = _set_hours(db, who, code, body, now)
    return {**_hours(view), "bookings_outside": [_unfit(u) for u in unfit]}


class ClosureIn(BaseModel):
    """A closure, as the closure form and the JSON API send it."""

    first_day: str
    last_day: str | None = None
    reason: str


def _add_closure(db: Db, who: CurrentUser, code: str, body: ClosureIn, now: Any) -> Any:
    return clinic_hours.add_closure(db, who, code, **body.model_dump(), now=now)


@router.post("/api/clinics/{code}/closures", status_code=201)
def add_closure_api(code: str, body: ClosureIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Close the clinic for a day or a range of days, with the reason (admin and director).
    Bookings already made on those days are kept and listed under `bookings_inside`."""
    entry, unfit = _add_closure(db, who, code, body, now)
    return {**_closure(entry), "bookings_inside": [_unfit(u) for u in unfit]}


@router.delete("/api/clinics/{code}/closures/{closure_id}")
def remove_closure_api(code: str, closure_id: uuid.UUID, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Take a closure away (admin and director)."""
    gone = clinic_hours.remove_closure(db, who, code, closure_id, now=now)
    return {"removed": _closure(gone)}


# ---- the page -----------------------------------------------------------------------------


def _hours_page(
    request: Request, db: Db, who: CurrentUser, code: str, now: Any, *, status_code: int = 200, **extra: Any
) -> Response:
    view = clinic_hours.hours_view(db, who, code, now)
    extra.setdefault("form", {})
    extra.setdefault("errors", forms.NO_ERRORS)
    extra.setdefault("unfit", None)
    extra.setdefault("notice", None)
    return page(
        request,
        "clinic_hours.html",
        status_code=status_code,
        who=who,
        view=view,
        clinic=view.clinic,
        weekdays=WEEKDAYS,
        policy=POLICY,
        zone=view.clinic.timezone,
        **extra,
    )


@router.get("/clinics/{code}/hours", include_in_schema=False)
def hours_page(request: Request, code: str, db: Db, who: Who, now: Now) -> Response:
    return _hours_page(request, db, who, code, now)


@router.post("/clinics/{code}/hours", include_in_schema=False)
def set_hours_form(
    request: Request, code: str, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    try:
        body = forms.read(
            HoursIn,
            {
                "version": posted.get("version", ""),
                "week": {day: posted.get(day, "") for day in WEEKDAYS},
                "booking_horizon_days": posted.get("booking_horizon_days", ""),
            },
        )
        _view, unfit = _set_hours(db, who, code, body, now)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        errors = forms.FormErrors.of("hours", exc, fields=[*WEEKDAYS, "booking_horizon_days"])
        return _hours_page(request, db, who, code, now, status_code=400, form=posted, errors=errors)
    return _hours_page(request, db, who, code, now, unfit=unfit, notice="The opening hours are saved.")


@router.post("/clinics/{code}/closures", include_in_schema=False)
def add_closure_form(
    request: Request, code: str, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    try:
        entry, unfit = _add_closure(db, who, code, forms.read(ClosureIn, posted), now)
    except InvalidInput as exc:
        db.rollback()
        errors = forms.FormErrors.of("closure", exc, fields=posted)
        return _hours_page(request, db, who, code, now, status_code=400, form=posted, errors=errors)
    notice = f"Closed {entry.closure.when()} ({entry.reason})."
    return _hours_page(request, db, who, code, now, unfit=unfit, notice=notice)


@router.post("/clinics/{code}/closures/{closure_id}/remove", include_in_schema=False)
def remove_closure_form(
    request: Request, code: str, closure_id: uuid.UUID, db: Db, who: FormWho, now: Now
) -> Response:
    try:
        gone = clinic_hours.remove_closure(db, who, code, closure_id, now=now)
    except NotFound as exc:
        db.rollback()
        errors = forms.FormErrors.of("closures", exc)
        return _hours_page(request, db, who, code, now, status_code=404, errors=errors)
    notice = f"The closure {gone.closure.when()} ({gone.reason}) is removed."
    return _hours_page(request, db, who, code, now, notice=notice)
