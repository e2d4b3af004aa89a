"""Refused attempts are audited: every 403, and every 404 that hides another organization's record.

The app's error handler (web/app.py) calls `audit_refusal` for a `Forbidden` or `Hidden` raised
anywhere (a role or clinic check in services/permissions.py, a form's expired CSRF token, ...).
The event names who tried (the signed-in staff member or patient, else "anonymous"), from where
(address and user agent), what (the HTTP method and the route's template, never the raw path),
the record the route names (its path parameters), its clinic, and the sentence they were given;
its outcome is "refused". It is written in a transaction of its own, after the refused request
rolled back: nothing the refused request began is kept.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import Request

from ketaflow.audit_codes import REFUSED, subtype_for_method
from ketaflow.errors import Forbidden, Hidden
from ketaflow.services.audit import Actor, record
from ketaflow.store.engine import begin_write
from ketaflow.store.models import Patient
from ketaflow.web.deps import anonymous_actor, route_template

log = logging.getLogger("ketaflow.web")
ACTION = "access.refused"
# A route's path parameter -> the kind of record it names (audit_events.entity_type).
ENTITY_OF = {  # the most specific first: /sessions/{session_id}/vitals/{vital_id} names a vital sign
    "vital_id": "vital_signs",
    "side_effect_id": "side_effect",
    "order_id": "dose_order",
    "request_id": "assistance_request",
    "response_id": "questionnaire_response",
    "closure_id": "clinic_closure",
    "plan_id": "treatment_plan",
    "appointment_id": "appointment",
    "user_id": "staff_user",
    "patient_id": "patient",
    "session_id": "infusion_session",
    "code": "clinic",
}  # never {token}: a patient's link is a secret


def _actor(request: Request) -> Actor:
    who = getattr(request.state, "who", None) or getattr(request.state, "patient", None)
    return who.actor() if who is not None else anonymous_actor(request)


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def audit_refusal(request: Request, exc: Forbidden | Hidden, status: int) -> None:
    """Write the refused attempt's audit event (see the module doc). Never raises: a failure to
    audit is logged, and the person still gets their answer."""
    params = dict(request.path_params)
    named = next((key for key in ENTITY_OF if key in params), None)
    entity_id = _uuid(params[named]) if named else None
    details: dict[str, Any] = {
        "method": request.method,
        "route": route_template(request),
        "status": status,
        "reason": exc.message,
    }
    if named == "code":
        details["clinic_code"] = str(params["code"])[:64]
    try:
        with request.app.state.sessions() as db:
            begin_write(db)
            # The patient column refers to patients: set only for one that exists (a forged id
            # stays in entity_id).
            known = entity_id is not None and named == "patient_id" and db.get(Patient, entity_id)
            patient_id = entity_id if known else None
            if named is None and getattr(request.state, "patient", None) is not None:
                patient_id = request.state.patient.patient.id  # the patient's own page
            record(
                db,
                _actor(request),
                ACTION,
                ENTITY_OF[named] if named else "request",
                entity_id,
                clinic_id=exc.clinic_id,
                patient_id=patient_id,
                details=details,
                outcome=REFUSED,
                subtype=subtype_for_method(request.method),
            )
            db.commit()
    except Exception:  # pragma: no cover - the database is gone; the refusal itself still stands
        log.exception("could not audit a refused %s %s", request.method, details["route"])
