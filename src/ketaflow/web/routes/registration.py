"""Front desk: registering patients (with duplicate detection), booking, the week view."""

import json
import uuid
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ketaflow.errors import Conflict, InvalidInput, KetaflowError, problems_of
from ketaflow.services import booking, clinics, fhir_referral, registration
from ketaflow.services.auth import CurrentUser
from ketaflow.services.permissions import Action
from ketaflow.services.registration import NewPatient, PossibleDuplicates
from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentKind, Sex
from ketaflow.web import forms
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who, page
from ketaflow.web.nul_guard import refusal

router = APIRouter()


# ---- registration -------------------------------------------------------------------------


def _register_page(
    request: Request, db: Db, who: CurrentUser, code: str, *, status_code: int = 200, **extra: Any
) -> Response:
    clinic = clinics.clinic_for(db, who, code, Action.REGISTER_PATIENT)
    extra.setdefault("form", {})
    extra.setdefault("errors", forms.NO_ERRORS)
    extra.setdefault("candidates", [])
    extra.setdefault("editing", None)
    return page(
        request,
        "register.html",
        status_code=status_code,
        who=who,
        clinic=clinic,
        sexes=[s.value for s in Sex],
        **extra,
    )


@router.get("/clinics/{code}/patients/new", include_in_schema=False)
def register_page(request: Request, code: str, db: Db, who: Who) -> Response:
    return _register_page(request, db, who, code)


class RegisterIn(BaseModel):
    """A new patient, as the registration form and the JSON API send it."""

    given_name: str
    family_name: str
    date_of_birth: str = Field(description="YYYY-MM-DD")
    sex: str
    phone: str = ""
    email: str = ""
    address: str = ""
    emergency_contact_name: str = ""
    emergency_contact_phone: str = ""
    emergency_contact_relationship: str = ""
    weight_kg: Annotated[float | None, forms.as_number("Weight (kg)")] = None
    height_cm: Annotated[float | None, forms.as_number("Height (cm)")] = None
    medications: str | list[str] = Field([], description="One per line, or a list")
    allergies: str | list[str] = Field([], description="One per line (substance - reaction), or a list")
    confirm_not_duplicate: bool = False

    def new_patient(self) -> NewPatient:
        return NewPatient(**self.model_dump(exclude={"confirm_not_duplicate"}))

    def check(self) -> None:
        """The checks that need no database (forms.read runs them with a field it cannot read).
        The clinic's date is not known here: tomorrow, so no date of birth is refused wrongly."""
        registration.checked_patient(self.new_patient(), date.today() + timedelta(days=1))


def _register(db: Db, who: CurrentUser, code: str, body: RegisterIn, now: datetime) -> Any:
    return registration.register(
        db, who, code, body.new_patient(), confirm_not_duplicate=body.confirm_not_duplicate, now=now
    )


@router.post("/clinics/{code}/patients/new", include_in_schema=False)
def register_form(
    request: Request, code: str, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    try:
        patient = _register(db, who, code, forms.read(RegisterIn, posted), now)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _register_page(
            request,
            db,
            who,
            code,
            status_code=400,
            form=posted,
            errors=forms.FormErrors.of("register", exc, fields=posted),
            candidates=exc.candidates if isinstance(exc, PossibleDuplicates) else [],
        )
    return RedirectResponse(f"/patients/{patient.id}", status_code=303)


# ---- a registered patient's details (an ADT^A08 goes out when they change) ------------------------


def _details_page(
    request: Request, db: Db, who: CurrentUser, patient_id: uuid.UUID, *, status_code: int = 200, **extra: Any
) -> Response:
    patient = registration.patient_to_edit(db, who, patient_id)
    clinic = db.get(m.Clinic, patient.clinic_id)
    assert clinic is not None  # foreign key
    extra.setdefault("form", _details_of(patient))
    return _register_page(request, db, who, clinic.code, status_code=status_code, editing=patient, **extra)


def _details_of(patient: m.Patient) -> dict[str, str]:
    """The details form as the patient's row fills it."""
    form = {
        f: "" if getattr(patient, f) is None else str(getattr(patient, f)) for f in registration.DETAIL_FIELDS
    }
    form["date_of_birth"] = patient.date_of_birth.isoformat()
    return form


@router.get("/patients/{patient_id}/details", include_in_schema=False)
def details_page(request: Request, patient_id: uuid.UUID, db: Db, who: Who) -> Response:
    return _details_page(request, db, who, patient_id)


@router.post("/patients/{patient_id}/details", include_in_schema=False)
def details_form(
    request: Request, patient_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    try:
        body = forms.read(RegisterIn, posted)
        version = forms.whole(posted.get("version"), "version", "The form's version")
        if version is None:
            raise InvalidInput("The form is incomplete: reload the page and make the change again.")
        registration.update_details(db, who, patient_id, body.new_patient(), version=version, now=now)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _details_page(
            request,
            db,
            who,
            patient_id,
            status_code=409 if isinstance(exc, Conflict) else 400,
            form=posted,
            errors=forms.FormErrors.of("register", exc, fields=posted),
        )
    return RedirectResponse(f"/patients/{patient_id}", status_code=303)


def _candidate(c: registration.Candidate) -> dict[str, Any]:
    return {**asdict(c), "patient_id": str(c.patient_id), "date_of_birth": c.date_of_birth.isoformat()}


@router.post("/api/clinics/{code}/patients", status_code=201, response_model=None)
def register_api(code: str, body: RegisterIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any] | Response:
    """Register a patient. 409 with `candidates` when they may already exist, unless
    `confirm_not_duplicate` is true."""
    try:
        patient = _register(db, who, code, body, now)
    except PossibleDuplicates as exc:
        db.rollback()
        return JSONResponse(
            {"error": exc.message, "candidates": [_candidate(c) for c in exc.candidates]}, status_code=409
        )
    except InvalidInput as exc:
        db.rollback()
        return JSONResponse({"field": None, **forms.refusal(exc)}, status_code=400)
    return {"id": str(patient.id), "mrn": patient.mrn, "version": patient.version}


# ---- finding a patient --------------------------------------------------------------------


@router.get("/clinics/{code}/patients", include_in_schema=False)
def search_page(request: Request, code: str, db: Db, who: Who, q: str = "", page_no: int = 1) -> Response:
    try:
        result = registration.search(db, who, code, q, page=page_no)
    except InvalidInput as exc:
        db.rollback()
        clinic = clinics.clinic_for(db, who, code, Action.READ_CHART)
        return page(
            request,
            "patient_search.html",
            status_code=400,
            who=who,
            clinic=clinic,
            result=None,
            q=q,
            error=exc.message,
        )
    return page(request, "patient_search.html", who=who, clinic=result.clinic, result=result, q=q, error=None)


@router.get("/api/clinics/{code}/patients")
def search_api(code: str, db: Db, who: Who, q: str = "", page_no: int = 1) -> dict[str, Any]:
    """Find the clinic's patients by name, MRN or date of birth (YYYY-MM-DD); 25 a page (`page_no`)."""
    r = registration.search(db, who, code, q, page=page_no)
    return {
        "clinic": r.clinic.code,
        "q": r.q,
        "searched_by": r.searched_by,
        "page": r.page,
        "has_next": r.has_next,
        "patients": [
            {**asdict(p), "patient_id": str(p.patient_id), "date_of_birth": p.date_of_birth.isoformat()}
            for p in r.patients
        ],
    }


# ---- booking ------------------------------------------------------------------------------


def _book_page(
    request: Request,
    db: Db,
    who: CurrentUser,
    patient_id: uuid.UUID,
    now: Any,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    view = booking.patient_bookings(db, who, patient_id, now)
    extra.setdefault("form", {})
    extra.setdefault("errors", forms.NO_ERRORS)
    extra.setdefault("edit", None)
    return page(
        request,
        "book.html",
        status_code=status_code,
        who=who,
        view=view,
        patient=view.patient,
        zone=ZoneInfo(view.clinic.timezone),
        now=now,
        kinds=[(k.value, booking.KIND_LABEL[k]) for k in AppointmentKind],
        defaults={
            "infusion": booking.default_length_min(AppointmentKind.INFUSION, view.plan),
            "consultation": booking.CONSULTATION_MIN,
            "follow_up": booking.FOLLOW_UP_MIN,
        },
        **extra,
    )


@router.get("/patients/{patient_id}/book", include_in_schema=False)
def book_page(request: Request, patient_id: uuid.UUID, db: Db, who: Who, now: Now) -> Response:
    return _book_page(request, db, who, patient_id, now)


class BookIn(BaseModel):
    """A booking, as the booking form and the JSON API send it."""

    kind: str
    day: str
    start: str
    chair_id: str | None = None
    length_min: Annotated[int | None, forms.as_whole("Length (minutes)")] = None
    notes: str = ""

    def check(self) -> None:
        """The checks that need no database (forms.read runs them with a field it cannot read)."""
        booking.check_entries(self.day, self.start, self.length_min, self.kind)


class RescheduleIn(BaseModel):
    """A move of a booking, as the reschedule form and the JSON API send it."""

    version: int
    day: str
    start: str
    chair_id: str | None = None
    length_min: Annotated[int | None, forms.as_whole("Length (minutes)")] = None

    def check(self) -> None:
        """The checks that need no database (forms.read runs them with a field it cannot read)."""
        booking.check_entries(self.day, self.start, self.length_min)


def _book(db: Db, who: CurrentUser, patient_id: uuid.UUID, body: BookIn, now: datetime) -> Any:
    return booking.book(db, who, patient_id, **body.model_dump(), now=now)


def _reschedule(
    db: Db, who: CurrentUser, appointment_id: uuid.UUID, body: RescheduleIn, now: datetime
) -> Any:
    return booking.reschedule(
        db,
        who,
        appointment_id,
        expected_version=body.version,
        **body.model_dump(exclude={"version"}),
        now=now,
    )


def _booking_errors(at: str, exc: KetaflowError, posted: dict[str, str]) -> forms.FormErrors:
    """A booking form's mistakes; a clash is about the time (and chair): shown beside the start time."""
    if isinstance(exc, Conflict):
        return forms.FormErrors(at, {"start": exc.message})
    return forms.FormErrors.of(at, exc, fields=posted)


@router.post("/patients/{patient_id}/book", include_in_schema=False)
def book_form(
    request: Request, patient_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    try:
        _book(db, who, patient_id, forms.read(BookIn, posted), now)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        errors = _booking_errors("book", exc, posted)
        return _book_page(request, db, who, patient_id, now, status_code=400, form=posted, errors=errors)
    return RedirectResponse(f"/patients/{patient_id}/book", status_code=303)


def _patient_of(db: Db, appointment_id: uuid.UUID) -> uuid.UUID:
    return booking.patient_of(db, appointment_id)


@router.post("/appointments/{appointment_id}/cancel", include_in_schema=False)
def cancel_form(
    request: Request,
    appointment_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    version: Annotated[int, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    patient_id = _patient_of(db, appointment_id)
    try:
        booking.cancel(db, who, appointment_id, expected_version=version, reason=reason, now=now)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        errors = forms.FormErrors.of(f"cancel-{appointment_id}", exc)
        return _book_page(request, db, who, patient_id, now, status_code=400, errors=errors)
    return RedirectResponse(f"/patients/{patient_id}/book", status_code=303)


@router.post("/appointments/{appointment_id}/reschedule", include_in_schema=False)
def reschedule_form(
    request: Request, appointment_id: uuid.UUID, db: Db, who: FormWho, now: Now, posted: forms.Posted
) -> Response:
    patient_id = _patient_of(db, appointment_id)
    try:
        _reschedule(db, who, appointment_id, forms.read(RescheduleIn, posted), now)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        errors = _booking_errors(f"move-{appointment_id}", exc, posted)
        return _book_page(
            request,
            db,
            who,
            patient_id,
            now,
            status_code=400,
            errors=errors,
            edit={"id": str(appointment_id), "form": posted},
        )
    return RedirectResponse(f"/patients/{patient_id}/book", status_code=303)


def _booking(b: booking.Booking) -> dict[str, Any]:
    return {
        "id": str(b.appointment_id),
        "patient_id": str(b.patient_id),
        "patient_name": b.patient_name,
        "mrn": b.mrn,
        "kind": b.kind,
        "status": b.status,
        "starts_at": b.starts_at.isoformat(),
        "ends_at": b.ends_at.isoformat(),
        "chair": b.chair_label,
        "chair_id": str(b.chair_id) if b.chair_id else None,
        "version": b.version,
    }


def _appointment(a: Any) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "patient_id": str(a.patient_id),
        "kind": a.kind,
        "status": a.status,
        "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat(),
        "chair_id": str(a.chair_id) if a.chair_id else None,
        "treatment_plan_id": str(a.treatment_plan_id) if a.treatment_plan_id else None,
        "version": a.version,
    }


@router.post("/api/patients/{patient_id}/appointments", status_code=201)
def book_api(patient_id: uuid.UUID, body: BookIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Book an appointment (day and HH:MM in the clinic's time zone); 409 naming a clashing booking."""
    return _appointment(_book(db, who, patient_id, body, now))


@router.get("/api/patients/{patient_id}/appointments")
def bookings_api(patient_id: uuid.UUID, db: Db, who: Who, now: Now) -> dict[str, Any]:
    """The patient's bookings from 30 days ago on."""
    view = booking.patient_bookings(db, who, patient_id, now)
    return {"patient_id": str(view.patient.id), "appointments": [_booking(b) for b in view.bookings]}


class CancelIn(BaseModel):
    version: int
    reason: str = ""


@router.post("/api/appointments/{appointment_id}/cancel")
def cancel_api(appointment_id: uuid.UUID, body: CancelIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Cancel a booked appointment; 409 if someone changed it since `version`."""
    appt = booking.cancel(db, who, appointment_id, expected_version=body.version, reason=body.reason, now=now)
    return _appointment(appt)


@router.post("/api/appointments/{appointment_id}/reschedule")
def reschedule_api(
    appointment_id: uuid.UUID, body: RescheduleIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Move a booked appointment; the same clash checks as booking; 409 if stale."""
    return _appointment(_reschedule(db, who, appointment_id, body, now))


# ---- the week -----------------------------------------------------------------------------


@router.get("/clinics/{code}/week", include_in_schema=False)
def week_page(request: Request, code: str, db: Db, who: Who, now: Now, start: str = "") -> Response:
    week = booking.week_view(db, who, code, start or None, now)
    return page(
        request,
        "week.html",
        who=who,
        week=week,
        clinic=week.clinic,
        zone=week.zone,
        use=booking.chair_use(week),
        labels=booking.KIND_LABEL,
        today=now.astimezone(week.zone).date(),
    )


@router.get("/api/clinics/{code}/week")
def week_api(code: str, db: Db, who: Who, now: Now, start: str = "") -> dict[str, Any]:
    """Seven days from `start` (YYYY-MM-DD; default this Monday): bookings per chair and day."""
    week = booking.week_view(db, who, code, start or None, now)
    use = {u.day: u for u in booking.chair_use(week)}
    return {
        "clinic": week.clinic.code,
        "timezone": week.clinic.timezone,
        "start": week.start.isoformat(),
        "previous_start": week.previous_start.isoformat(),
        "next_start": week.next_start.isoformat(),
        "chairs": [{"id": str(c.chair_id), "label": c.label} for c in week.chairs],
        "days": [
            {
                "day": d.day.isoformat(),
                "chairs": {str(cid): [_booking(b) for b in bookings] for cid, bookings in d.by_chair.items()},
                "without_chair": [_booking(b) for b in d.no_chair],
                "booked_chair_hours": use[d.day].booked_chair_hours,
                "open_chair_hours": use[d.day].open_chair_hours,
            }
            for d in week.days
        ],
    }


# ---- a referral uploaded by the front desk (services/fhir_referral.py) ----------------------------


def _referral_page(
    request: Request, db: Db, who: CurrentUser, code: str, *, status_code: int = 200, **extra: Any
) -> Response:
    clinic = clinics.clinic_for(db, who, code, Action.REGISTER_PATIENT)
    extra.setdefault("errors", forms.NO_ERRORS)
    extra.setdefault("problems", {})
    extra.setdefault("candidates", [])
    extra.setdefault("done", None)
    return page(request, "referral_upload.html", status_code=status_code, who=who, clinic=clinic, **extra)


@router.get("/clinics/{code}/referrals/new", include_in_schema=False)
def referral_page(request: Request, code: str, db: Db, who: Who) -> Response:
    return _referral_page(request, db, who, code)


async def _uploaded_bundle(request: Request) -> Any:
    """The uploaded file's JSON, or InvalidInput saying what to send instead."""
    form = await request.form()
    upload = form.get("bundle")
    if upload is None or isinstance(upload, str) or not upload.filename:
        raise InvalidInput("Choose the referral file (a FHIR Bundle, .json) to upload.", field="bundle")
    data = await upload.read()  # at most the body limit (web/request_size.py)
    try:
        bundle = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput(
            f"{upload.filename} is not a FHIR JSON file: ask the referring practice for the referral as "
            "a FHIR Bundle in JSON (not a PDF, a scan or XML).",
            field="bundle",
        ) from None
    # What every JSON body is checked for (web/nul_guard.py, which leaves uploaded files to us).
    unstorable = refusal(b"", data, "json")
    if unstorable is not None:
        raise InvalidInput(f"{upload.filename}: {unstorable}", field="bundle")
    return bundle


@router.post("/clinics/{code}/referrals/new", include_in_schema=False)
async def referral_upload(request: Request, code: str, db: Db, who: FormWho, now: Now) -> Response:
    """A referral Bundle uploaded as a file: the same import as `POST /fhir` (one transaction; a
    bad Bundle names each problem and saves nothing; a possible duplicate asks first)."""
    form = await request.form()
    confirm = form.get("confirm_not_duplicate") in {"yes", "on"}
    try:
        bundle = await _uploaded_bundle(request)
        done = await run_in_threadpool(
            fhir_referral.import_referral, db, who, code, bundle, now=now, confirm_not_duplicate=confirm
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        problems = problems_of(exc)
        upload_problem = problems.pop("bundle", None)
        message = upload_problem or (
            "The referral was not imported and nothing was saved: the file has these problems. Ask the "
            "referring practice to correct them and send it again."
            if problems and not isinstance(exc, PossibleDuplicates)
            else exc.message
        )
        return _referral_page(
            request,
            db,
            who,
            code,
            status_code=409 if isinstance(exc, PossibleDuplicates) else 400,
            errors=forms.FormErrors("referral", {}, message),
            problems={} if isinstance(exc, PossibleDuplicates) or upload_problem else problems,
            candidates=exc.candidates if isinstance(exc, PossibleDuplicates) else [],
        )
    return _referral_page(request, db, who, code, status_code=201, done=done)
