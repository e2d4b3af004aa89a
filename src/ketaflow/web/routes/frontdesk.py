"""Check-in with the day's driver, and seating the patient (opening the infusion)."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from ketaflow.errors import Conflict, InvalidInput
from ketaflow.services import scheduling, seating
from ketaflow.store import models as m
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, page

router = APIRouter()


def _board_of(db: Db, appointment_id: uuid.UUID) -> str:
    appt = db.get(m.Appointment, appointment_id)
    clinic = db.get(m.Clinic, appt.clinic_id) if appt else None
    return f"/clinics/{clinic.code}/board" if clinic else "/clinics"


@router.post("/appointments/{appointment_id}/check-in", include_in_schema=False)
def check_in_form(
    request: Request,
    appointment_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    version: Annotated[int, Form()],
    driver: Annotated[str, Form()] = "",
    relationship: Annotated[str, Form()] = "",
    transport: Annotated[str, Form()] = "",
) -> Response:
    try:
        scheduling.check_in(
            db,
            who,
            appointment_id,
            expected_version=version,
            driver=driver,
            relationship=relationship,
            transport=transport,
            now=now,
        )
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return page(
            request, "error.html", status_code=400, message=exc.message, back=_board_of(db, appointment_id)
        )
    return RedirectResponse(_board_of(db, appointment_id), status_code=303)


@router.post("/appointments/{appointment_id}/open", include_in_schema=False)
def open_form(appointment_id: uuid.UUID, db: Db, who: FormWho, now: Now) -> Response:
    session = seating.open_session(db, who, appointment_id, now)
    return RedirectResponse(f"/sessions/{session.id}", status_code=303)


class CheckInIn(BaseModel):
    version: int
    driver: str = ""
    relationship: str = ""
    transport: str = ""


@router.post("/api/appointments/{appointment_id}/check-in")
def check_in_api(appointment_id: uuid.UUID, body: CheckInIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Check a patient in; refused without a named driver (with phone) or arranged transport."""
    appt = scheduling.check_in(
        db,
        who,
        appointment_id,
        expected_version=body.version,
        driver=body.driver,
        relationship=body.relationship,
        transport=body.transport,
        now=now,
    )
    return {
        "id": str(appt.id),
        "status": appt.status,
        "version": appt.version,
        "driver": appt.escort_name,
        "transport": appt.transport_arranged,
    }


@router.post("/api/appointments/{appointment_id}/open")
def open_api(appointment_id: uuid.UUID, db: Db, who: ApiWho, now: Now) -> dict[str, str]:
    """Seat the checked-in patient: open the infusion session."""
    return {"session_id": str(seating.open_session(db, who, appointment_id, now).id)}
