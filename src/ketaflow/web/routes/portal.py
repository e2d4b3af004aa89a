"""The patient's own page: one-time link, preparation, questions, questionnaires due.

Staff issue a one-time link (/patients/{id}/portal-link) as a printout for the patient (the
token appears only on that handout, never on the staff pages); the patient opens it (/p/{token}),
gives their date of birth and presses its button (POST /p/{token}), which uses the link up, sets
the separate `ketaflow_patient` cookie and leads to /me. A browser signed in as staff cannot
open a patient's link. Patient API calls live
under /api/me/... and send the X-CSRF-Token from GET /api/me/session.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, StrictInt

from ketaflow.errors import Conflict, InvalidInput
from ketaflow.fhir.summary import summarize
from ketaflow.services import auth, message_settings, mfa, patient_access, patient_reports, portal
from ketaflow.services.patient_access import CurrentPatient
from ketaflow.services.permissions import Action, allowed
from ketaflow.settings import get_settings
from ketaflow.store import models as m
from ketaflow.web.content import portal_content
from ketaflow.web.deps import COOKIE, ApiWho, Db, FormWho, Now, Who, page, request_origin, set_session_cookie
from ketaflow.web.forms import day
from ketaflow.web.patient_deps import PATIENT_COOKIE, SIGN_IN_NEEDED, ApiMe, FormMe, MaybeMe, Me
from ketaflow.web.routes.fhir import FhirResponse

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


# ---- staff: issue a one-time link ------------------------------------------------------------


def _link_url(request: Request, token: str) -> str:
    base = get_settings().public_url or str(request.base_url)
    return base.rstrip("/") + f"/p/{token}"


def _link_page(
    request: Request, db: Db, who: Any, patient_id: uuid.UUID, now: datetime, **extra: Any
) -> Response:
    view = patient_access.link_page(db, who, patient_id)
    # What the patient sent (questions, questionnaire answers) is clinical: the front desk, who
    # may give links, sees the link part only.
    reports = (
        patient_reports.patient_reports(db, who, patient_id)
        if allowed(who, Action.READ_CLINICAL, view.clinic.id)
        else None
    )
    status = extra.pop("status_code", 200)
    response = page(
        request,
        "portal_link.html",
        status_code=status,
        who=who,
        view=view,
        reports=reports,
        patient=view.patient,
        zone=ZoneInfo(view.clinic.timezone),
        now=now,
        address=message_settings.address_state(db, view.patient),
        confirmation_sent=request.query_params.get("confirmation") == "sent",
        **extra,
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/patients/{patient_id}/portal-link", include_in_schema=False)
def link_form(request: Request, patient_id: uuid.UUID, db: Db, who: Who, now: Now) -> Response:
    return _link_page(request, db, who, patient_id, now)


@router.post("/patients/{patient_id}/portal-link", include_in_schema=False)
def link_issue(request: Request, patient_id: uuid.UUID, db: Db, who: FormWho, now: Now) -> Response:
    issued = patient_access.issue_link(db, who, patient_id, now)
    view = patient_access.link_page(db, who, patient_id)
    url = _link_url(request, issued.token)
    # The handout for the patient, rendered (not redirected) so the link exists only in this one
    # response, to print and hand over; the staff pages never show it.
    response = page(
        request,
        "portal_handout.html",
        who=who,
        patient=view.patient,
        clinic=view.clinic,
        url=url,
        qr=mfa.qr_svg(url),
        expires_at=issued.link.expires_at,
        zone=ZoneInfo(view.clinic.timezone),
        tries=patient_access.MAX_BIRTH_DATE_TRIES,
    )
    response.headers.update(NO_STORE)
    return response


@router.post("/api/patients/{patient_id}/portal-link")
def link_issue_api(request: Request, patient_id: uuid.UUID, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Create a one-time link to the patient's own page, for a printout handed to the patient: the
    URL is returned only this once. Opening it asks the patient's date of birth."""
    issued = patient_access.issue_link(db, who, patient_id, now)
    return {
        "url": _link_url(request, issued.token),
        "expires_at": issued.link.expires_at.isoformat(),
        "valid_days": patient_access.LINK_VALID_DAYS,
        "needs_date_of_birth": True,
    }


# ---- the patient opens the link -------------------------------------------------------------


def _link_refused(request: Request, exc: patient_access.LinkRefused) -> Response:
    refused: Response = page(
        request, "portal_link_refused.html", status_code=410 if exc.gone else 400, message=exc.message
    )
    refused.headers.update(NO_STORE)
    return refused


@router.get("/p/{token}", include_in_schema=False)
def look_at_link(request: Request, token: str, db: Db, now: Now) -> Response:
    """The link's page: a button that opens the patient's page. Looking uses nothing up, so an
    e-mail scanner or a chat app's link preview fetching the link does not spend it."""
    try:
        patient_access.check_link(db, token, now)
    except patient_access.LinkRefused as exc:
        return _link_refused(request, exc)
    return _open_page(request, token)


def _open_page(request: Request, token: str, error: str | None = None, status_code: int = 200) -> Response:
    response = page(
        request,
        "portal_link_open.html",
        status_code=status_code,
        token=token,
        session_hours=patient_access.PATIENT_SESSION_HOURS,
        error=error,
    )
    response.headers.update({**NO_STORE, "X-Robots-Tag": "noindex, nofollow"})
    return response


@router.post("/p/{token}", include_in_schema=False)
def open_link(
    request: Request, token: str, db: Db, now: Now, date_of_birth: Annotated[str, Form()] = ""
) -> Response:
    # No CSRF field: the unguessable token in the address is the secret a forger lacks.
    staff = auth.current_user(db, request.cookies.get(COOKIE), origin=request_origin(request))
    if staff is not None:  # the person who issued it (or any colleague) in their own browser
        refusal = patient_access.refuse_staff_browser(db, token, staff)
        refused: Response = page(
            request, "portal_link_refused.html", status_code=403, message=refusal.message
        )
        refused.headers.update(NO_STORE)
        return refused
    try:
        born = day(date_of_birth, "date_of_birth", "Date of birth")
        opened = patient_access.redeem_link(
            db,
            token,
            now,
            date_of_birth=born,
            origin=request_origin(request),
        )
    except patient_access.LinkRefused as exc:
        if exc.gone or exc.message == patient_access.NOT_VALID:
            return _link_refused(request, exc)
        return _open_page(request, token, exc.message, status_code=400)
    except InvalidInput as exc:
        return _open_page(request, token, exc.message, status_code=400)
    response = RedirectResponse("/me", status_code=303)
    response.headers.update(NO_STORE)
    set_session_cookie(response, request, PATIENT_COOKIE, opened.token, patient_access.PATIENT_SESSION_HOURS)
    return response


# ---- the patient's page ---------------------------------------------------------------------


def _home_page(request: Request, db: Db, me: CurrentPatient, now: datetime, **extra: Any) -> Response:
    view = portal.home(db, me, now)
    status = extra.pop("status_code", 200)
    extra.setdefault("question_error", None)
    extra.setdefault("question_text", "")
    content = portal_content()
    response = page(
        request,
        "portal_home.html",
        status_code=status,
        me=me,
        view=view,
        zone=view.zone,
        emailed_by=patient_access.EMAILED_BY,
        preparation=content.preparation,
        crisis=content.crisis(view.clinic.country),
        max_chars=portal.QUESTION_MAX_CHARS,
        **extra,
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/me", include_in_schema=False)
def me_page(request: Request, db: Db, me: MaybeMe, now: Now) -> Response:
    if me is None:  # a patient's own explanation rather than the staff sign-in page
        return page(
            request,
            "portal_link_refused.html",
            status_code=401,
            heading="Your page needs your clinic's link",
            message=SIGN_IN_NEEDED,
        )
    return _home_page(request, db, me, now)


@router.get("/me/record.json", include_in_schema=False)
def my_record_file(request: Request, db: Db, me: Me, now: Now) -> Response:
    """The patient's record as a FHIR R4 Bundle, downloaded as a file."""
    bundle = portal.own_record(db, me, now, str(request.base_url).rstrip("/") + "/fhir")
    name = f"ketaflow-record-{me.patient.mrn}-{now.date().isoformat()}.fhir.json"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    return FhirResponse(bundle, headers=headers)


@router.get("/me/record", include_in_schema=False)
def my_record_page(request: Request, db: Db, me: Me, now: Now) -> Response:
    """A readable summary of the same record, to read or print, with the file's link."""
    bundle = portal.own_record(db, me, now, str(request.base_url).rstrip("/") + "/fhir")
    zone = ZoneInfo(me.clinic.timezone)
    summary = summarize([e["resource"] for e in bundle["entry"]], zone)
    response = page(request, "portal_record.html", me=me, summary=summary, clinic=me.clinic)
    response.headers.update(NO_STORE)
    return response


@router.post("/me/questions", include_in_schema=False)
def question_form(
    request: Request, db: Db, me: FormMe, now: Now, text: Annotated[str, Form()] = ""
) -> Response:
    try:
        portal.add_question(db, me, text, now)
    except InvalidInput as exc:
        db.rollback()
        return _home_page(
            request, db, me, now, status_code=400, question_error=exc.message, question_text=text
        )
    return RedirectResponse("/me#questions", status_code=303)


def _questionnaire_page(
    request: Request,
    me: CurrentPatient,
    key: str,
    answers: dict[int, str],
    error: str | None = None,
    missing: set[int] | None = None,
    status_code: int = 200,
) -> Response:
    form = portal.questionnaire(portal.instrument_for(key))
    response = page(
        request,
        "portal_questionnaire.html",
        status_code=status_code,
        me=me,
        form=form,
        key=key,
        answers=answers,
        error=error,
        missing=missing or set(),
        crisis=portal_content().crisis(me.clinic.country),
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/me/questionnaires/{key}", include_in_schema=False)
def questionnaire_form(request: Request, key: str, me: Me) -> Response:
    return _questionnaire_page(request, me, key, {})


def _parse_answers(name: str, typed: dict[int, str], count: int) -> list[int | None]:
    out: list[int | None] = []
    for i in range(1, count + 1):
        raw = typed.get(i, "").strip()
        if not raw:
            out.append(None)
            continue
        try:
            out.append(int(raw))
        except ValueError:
            raise InvalidInput(f"{name} item {i}: choose one of the answers shown.") from None
    return out


@router.post("/me/questionnaires/{key}", include_in_schema=False)
def questionnaire_submit(
    request: Request,
    key: str,
    db: Db,
    me: FormMe,
    now: Now,
    q1: Annotated[str, Form()] = "",
    q2: Annotated[str, Form()] = "",
    q3: Annotated[str, Form()] = "",
    q4: Annotated[str, Form()] = "",
    q5: Annotated[str, Form()] = "",
    q6: Annotated[str, Form()] = "",
    q7: Annotated[str, Form()] = "",
    q8: Annotated[str, Form()] = "",
    q9: Annotated[str, Form()] = "",
) -> Response:
    instrument = portal.instrument_for(key)
    form = portal.questionnaire(instrument)
    typed = dict(enumerate((q1, q2, q3, q4, q5, q6, q7, q8, q9), start=1))
    typed = {i: v for i, v in typed.items() if i <= len(form.items)}
    try:
        answers = _parse_answers(form.name, typed, len(form.items))
        done = portal.submit(db, me, instrument, answers, now)
    except (InvalidInput, Conflict) as exc:
        db.rollback()  # nothing of a refused questionnaire is kept
        missing = {i for i, v in typed.items() if not v.strip()}
        return _questionnaire_page(request, me, key, typed, exc.message, missing, status_code=400)
    # Post/redirect/get: reloading the thank-you page does not send the answers twice.
    return RedirectResponse(f"/me/questionnaires/{key}/sent/{done.response.id}", status_code=303)


@router.get("/me/questionnaires/{key}/sent/{response_id}", include_in_schema=False)
def questionnaire_sent(request: Request, key: str, response_id: uuid.UUID, db: Db, me: Me) -> Response:
    form = portal.questionnaire(portal.instrument_for(key))
    done = portal.sent(db, me, response_id)
    response = page(
        request,
        "portal_questionnaire_done.html",
        me=me,
        form=form,
        done=done,
        crisis=portal_content().crisis(me.clinic.country),
    )
    response.headers.update(NO_STORE)
    return response


@router.post("/me/sign-out", include_in_schema=False)
def sign_out_form(request: Request, db: Db, me: FormMe, now: Now) -> Response:
    patient_access.sign_out(db, me, now)
    response = RedirectResponse("/me/signed-out", status_code=303)
    response.delete_cookie(PATIENT_COOKIE, path="/")
    return response


@router.get("/me/signed-out", include_in_schema=False)
def signed_out(request: Request) -> Response:
    return page(request, "portal_signed_out.html")


# ---- the patient's API ----------------------------------------------------------------------


@router.get("/api/me/session")
def session_api(request: Request, db: Db, me: Me) -> dict[str, Any]:
    """The signed-in patient's session and the CSRF token to send (X-CSRF-Token) with changes."""
    portal.session_read(db, me)
    return {
        "given_name": me.patient.given_name,
        "clinic": me.clinic.name,
        "expires_at": me.session.expires_at.isoformat(),
        "csrf_token": me.session.csrf_token,
    }


def _appointment(a: m.Appointment, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "starts_at": a.starts_at.isoformat(),
        "local_time": a.starts_at.astimezone(zone).isoformat(),
        "kind": a.kind,
        "status": a.status,
    }


@router.get("/api/me/home")
def home_api(request: Request, db: Db, me: Me, now: Now) -> dict[str, Any]:
    """The patient's page as data: next appointments, clinic, questionnaires due, questions."""
    view = portal.home(db, me, now)
    c = view.clinic
    return {
        "given_name": view.patient.given_name,
        "clinic": {
            "name": c.name,
            "address": f"{c.address_line}, {c.city}, {c.region} {c.postal_code}",
            "phone": c.phone,
            "timezone": c.timezone,
        },
        "appointments": [_appointment(a, view.zone) for a in view.appointments],
        "first_visit": view.first_visit,
        "due": [
            {
                "instrument": d.instrument,
                "name": d.name,
                "due": d.due,
                "last_answered_at": _iso(d.last_answered_at),
                "every_days": d.every_days,
                "source": d.source,
            }
            for d in view.due
        ],
        "questions": [_question(q) for q in view.questions],
    }


def _question(q: m.PatientQuestion) -> dict[str, Any]:
    return {"id": str(q.id), "asked_at": q.asked_at.isoformat(), "text": q.text}


@router.get("/api/me/questions")
def questions_api(request: Request, db: Db, me: Me) -> list[dict[str, Any]]:
    """The patient's questions for the psychiatrist, newest first."""
    return [_question(q) for q in portal.questions(db, me)]


class QuestionIn(BaseModel):
    text: str = ""


@router.post("/api/me/questions")
def question_api(request: Request, body: QuestionIn, db: Db, me: ApiMe, now: Now) -> dict[str, Any]:
    """Keep a question for the psychiatrist (1 to 2000 characters)."""
    return _question(portal.add_question(db, me, body.text, now))


@router.get("/api/me/questionnaires/{key}")
def questionnaire_api(key: str, me: Me) -> dict[str, Any]:
    """The questionnaire's items and answer wording (phq9, gad7, cssrs_screen); an item with answers
    of its own (question 6 of the C-SSRS screener) lists them."""
    form = portal.questionnaire(portal.instrument_for(key))

    def answers(labels: tuple[str, ...] | None) -> list[dict[str, Any]]:
        return [{"value": v, "label": label} for v, label in enumerate(labels or ())]

    return {
        "instrument": form.instrument,
        "name": form.name,
        "title": form.title,
        "instructions": form.instructions,
        "items": [
            {"number": i.number, "text": i.label, "answers": answers(i.answer_labels or form.answer_labels)}
            for i in form.items
        ],
        "answers": answers(form.answer_labels),
        "source": form.source,
    }


class AnswersIn(BaseModel):
    answers: list[StrictInt | None]


@router.post("/api/me/questionnaires/{key}")
def questionnaire_submit_api(
    request: Request, key: str, body: AnswersIn, db: Db, me: ApiMe, now: Now
) -> dict[str, Any]:
    """Answer a questionnaire: every item is required (the C-SSRS screener's skip rule aside); item 9 of
    the PHQ-9 above 0, or a positive C-SSRS screen, alerts the on-call psychiatrist."""
    done = portal.submit(db, me, portal.instrument_for(key), body.answers, now)
    crisis = portal_content().crisis(me.clinic.country)
    return {
        "id": str(done.response.id),
        "instrument": done.scored.instrument,
        "total": done.scored.total,
        "max_total": done.scored.max_total,
        "severity": done.scored.severity,
        "for_date": done.response.for_date.isoformat(),
        "suicide_risk": done.suicide_risk,
        "crisis": {"message": crisis.after_alert, "line": crisis.text} if done.suicide_risk else None,
    }


@router.post("/api/me/sign-out")
def sign_out_api(request: Request, db: Db, me: ApiMe, now: Now) -> Response:
    """End the patient session."""
    patient_access.sign_out(db, me, now)
    response = Response(status_code=204)
    response.delete_cookie(PATIENT_COOKIE, path="/")
    return response
