"""The administrator's HL7 pages (issue 16): the bedside monitors of each clinic (list, register),
the monitor messages that could not be charted (with the reason; replay once the cause is fixed),
and the clinic's outgoing HL7 messages (state, attempts, last error). Administrators only
(permissions: MANAGE_MONITORS); anyone else gets a 403 page with the reason."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from ketaflow.errors import Forbidden, KetaflowError
from ketaflow.services import hl7_outbox, monitor_feed, monitors
from ketaflow.services.auth import CurrentUser
from ketaflow.services.permissions import Action, allowed
from ketaflow.store import models as m
from ketaflow.web.deps import Db, FormWho, Now, Who, page

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}


def _clinics(db: Db, who: CurrentUser) -> list[m.Clinic]:
    """The clinics where `who` manages monitors; a Forbidden if none."""
    ids = [uuid.UUID(c) for c in who.roles if allowed(who, Action.MANAGE_MONITORS, uuid.UUID(c))]
    if not ids:
        raise Forbidden("Only an administrator manages the monitors and sees the clinic's HL7 messages.")
    return list(db.scalars(select(m.Clinic).where(m.Clinic.id.in_(ids)).order_by(m.Clinic.name)))


def _monitors_page(
    request: Request, db: Db, who: CurrentUser, status_code: int = 200, **extra: Any
) -> Response:
    clinics = _clinics(db, who)
    listed = [
        (c, monitors.list_monitors(db, who, c.code), sorted(c.chairs, key=lambda ch: ch.position))
        for c in clinics
    ]
    extra.setdefault("error", None)
    extra.setdefault("done", request.query_params.get("done"))
    extra.setdefault("form", {})
    response = page(request, "hl7_monitors.html", status_code=status_code, who=who, listed=listed, **extra)
    response.headers.update(NO_STORE)
    return response


@router.get("/hl7/monitors", include_in_schema=False)
def monitors_page(request: Request, db: Db, who: Who) -> Response:
    return _monitors_page(request, db, who)


@router.post("/hl7/monitors", include_in_schema=False)
def monitors_register(
    request: Request,
    db: Db,
    who: FormWho,
    now: Now,
    clinic: Annotated[str, Form()] = "",
    chair: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    device_id: Annotated[str, Form()] = "",
    location: Annotated[str, Form()] = "",
) -> Response:
    form = {"clinic": clinic, "chair": chair, "label": label, "device_id": device_id, "location": location}
    _clinics(db, who)
    try:
        monitors.register_monitor(
            db, who, clinic, chair, label=label, device_id=device_id, location=location, now=now
        )
    except KetaflowError as exc:
        if isinstance(exc, Forbidden):
            raise
        db.rollback()
        return _monitors_page(request, db, who, status_code=400, error=exc.message, form=form)
    return RedirectResponse("/hl7/monitors?done=registered", status_code=303)


@router.get("/hl7/dead-letters", include_in_schema=False)
def dead_letters_page(request: Request, db: Db, who: Who) -> Response:
    return _letters_page(request, db, who)


def _letters_page(
    request: Request, db: Db, who: CurrentUser, status_code: int = 200, **extra: Any
) -> Response:
    clinics = {c.id: c for c in _clinics(db, who)}
    resolved = request.query_params.get("all") == "1"
    letters = monitor_feed.dead_letters(db, who, include_resolved=resolved)
    extra.setdefault("notice", None)
    response = page(
        request,
        "hl7_dead_letters.html",
        status_code=status_code,
        who=who,
        letters=letters,
        clinics=clinics,
        resolved=resolved,
        **extra,
    )
    response.headers.update(NO_STORE)
    return response


@router.post("/hl7/dead-letters/{letter_id}/replay", include_in_schema=False)
def dead_letter_replay(request: Request, letter_id: uuid.UUID, db: Db, who: FormWho, now: Now) -> Response:
    _clinics(db, who)
    outcome = monitor_feed.replay(db, who, letter_id, now=now)
    if outcome.ack_code == "AA":
        notice = (
            "Already charted: the message had been received before."
            if outcome.duplicate
            else f"Charted on replay: {outcome.charted} reading{'s' if outcome.charted != 1 else ''}."
        )
        return _letters_page(request, db, who, notice=notice)
    return _letters_page(
        request, db, who, status_code=409, notice=f"Still not charted ({outcome.ack_code}): {outcome.reason}"
    )


@router.get("/hl7/outbox", include_in_schema=False)
def outbox_page(request: Request, db: Db, who: Who) -> Response:
    clinics = {c.id: c for c in _clinics(db, who)}
    done = request.query_params.get("all") == "1"
    rows = hl7_outbox.outbox_view(db, who, include_done=done)
    response = page(request, "hl7_outbox.html", who=who, rows=rows, clinics=clinics, done=done)
    response.headers.update(NO_STORE)
    return response
