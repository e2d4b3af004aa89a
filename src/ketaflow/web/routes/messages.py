"""Pages of the messages (issue 17): confirming an address, a patient's choice of messages, and the
staff task an urgent alert gives (acknowledge it)."""

from __future__ import annotations

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ketaflow.errors import Conflict, InvalidInput
from ketaflow.services import alerts, message_settings, outbox
from ketaflow.web.deps import Db, FormWho, Now, Who, page, request_origin
from ketaflow.web.patient_deps import FormMe, Me

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _no_store(response: Response) -> Response:
    response.headers.update(NO_STORE)
    return response


# ---- the patient confirms their address ------------------------------------------------------


@router.get("/messages/confirm/{token}", include_in_schema=False)
def confirm_form(request: Request, token: str, db: Db, now: Now) -> Response:
    """A button, not the confirmation itself: mail scanners fetch links without a person there."""
    try:
        prefs = message_settings.check_confirmation(db, token, now)
    except InvalidInput as exc:
        return _no_store(
            page(request, "message_confirm.html", status_code=410, error=exc.message, token=None)
        )
    return _no_store(page(request, "message_confirm.html", email=prefs.email, token=token, error=None))


@router.post("/messages/confirm/{token}", include_in_schema=False)
def confirm_address(request: Request, token: str, db: Db, now: Now) -> Response:
    # No CSRF field: the unguessable token in the address is the secret a forger lacks.
    try:
        email = message_settings.confirm(db, token, now, origin=request_origin(request))
    except InvalidInput as exc:
        return _no_store(
            page(request, "message_confirm.html", status_code=410, error=exc.message, token=None)
        )
    return _no_store(page(request, "message_confirm.html", confirmed=email, token=None, error=None))


# ---- staff ask for a confirmation ------------------------------------------------------------


@router.post("/patients/{patient_id}/messages/confirm-address", include_in_schema=False)
def request_confirmation(patient_id: uuid.UUID, db: Db, who: FormWho, now: Now) -> Response:
    message_settings.request_confirmation(db, who, patient_id, now)
    return RedirectResponse(f"/patients/{patient_id}/portal-link?confirmation=sent", status_code=303)


# ---- the patient's own choice of messages ----------------------------------------------------


@router.get("/me/messages", include_in_schema=False)
def my_messages(request: Request, db: Db, me: Me) -> Response:
    view = message_settings.choices(db, me)
    return _no_store(page(request, "portal_messages.html", me=me, view=view, saved=False))


@router.post("/me/messages", include_in_schema=False)
def save_my_messages(
    request: Request, db: Db, me: FormMe, now: Now, wanted: Annotated[list[str] | None, Form()] = None
) -> Response:
    kinds = set(message_settings.optional_kinds())
    view = message_settings.set_opt_outs(db, me, kinds - set(wanted or []), now)
    return _no_store(page(request, "portal_messages.html", me=me, view=view, saved=True))


# ---- the staff task of an urgent alert --------------------------------------------------------


@router.get("/tasks/{task_id}", include_in_schema=False)
def task_page(request: Request, task_id: uuid.UUID, db: Db, who: Who) -> Response:
    view = alerts.task_view(db, who, task_id)
    return _no_store(
        page(request, "staff_task.html", who=who, view=view, zone=ZoneInfo(view.clinic.timezone), error=None)
    )


@router.post("/tasks/{task_id}/acknowledge", include_in_schema=False)
def task_acknowledge(request: Request, task_id: uuid.UUID, db: Db, who: FormWho, now: Now) -> Response:
    try:
        alerts.acknowledge(db, who, task_id, now)
    except Conflict as exc:
        view = alerts.task_view(db, who, task_id)
        return _no_store(
            page(
                request,
                "staff_task.html",
                status_code=409,
                who=who,
                view=view,
                zone=ZoneInfo(view.clinic.timezone),
                error=exc.message,
            )
        )
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)


# ---- the clinic's outbox, for its director and the administrator ------------------------------


@router.get("/clinics/{code}/messages", include_in_schema=False)
def clinic_messages(request: Request, code: str, db: Db, who: Who) -> Response:
    view = outbox.clinic_outbox(db, who, code)
    return page(
        request,
        "clinic_messages.html",
        who=who,
        view=view,
        clinic=view.clinic,
        zone=ZoneInfo(view.clinic.timezone),
        saved=request.query_params.get("on_call") == "saved",
    )


@router.post("/clinics/{code}/messages/on-call", include_in_schema=False)
def set_on_call(code: str, db: Db, who: FormWho, now: Now, user_id: Annotated[str, Form()] = "") -> Response:
    alerts.set_on_call_at(db, who, code, user_id, now)
    return RedirectResponse(f"/clinics/{code}/messages?on_call=saved", status_code=303)
