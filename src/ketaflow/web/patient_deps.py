"""Request dependencies for the patient's own pages: the patient session cookie and its CSRF token.

The patient cookie is separate from the staff cookie (web/deps.py): a staff sign-in never
grants /me, and a patient session never grants a staff page or staff API.
"""

from typing import Annotated

from fastapi import Depends, Form, Header, Request
from starlette.exceptions import HTTPException

from ketaflow.errors import Forbidden
from ketaflow.services import patient_access
from ketaflow.services.patient_access import CurrentPatient
from ketaflow.web.deps import Db, Now, request_origin

PATIENT_COOKIE = "ketaflow_patient"
SIGN_IN_NEEDED = (
    "Open the link your clinic sent you to see your page; each link works once, "
    "so ask the clinic for a new one if yours has been used."
)


def _signed_in(request: Request, db: Db, now: Now) -> CurrentPatient | None:
    """The patient of the request's patient cookie, with where the request came from; kept on the
    request for the audit of a refusal (web/refusals.py)."""
    token = request.cookies.get(PATIENT_COOKIE)
    me = patient_access.current_patient(db, token, now, origin=request_origin(request))
    if me is not None:
        request.state.patient = me
    return me


def _patient_or_none(request: Request, db: Db, now: Now) -> CurrentPatient | None:
    return _signed_in(request, db, now)


def _patient(request: Request, db: Db, now: Now) -> CurrentPatient:
    me = _signed_in(request, db, now)
    if me is None:
        # The app answers HTTP errors with the sentence: JSON under /api/, the error page otherwise.
        raise HTTPException(status_code=401, detail=SIGN_IN_NEEDED)
    return me


Me = Annotated[CurrentPatient, Depends(_patient)]
MaybeMe = Annotated[CurrentPatient | None, Depends(_patient_or_none)]


def _form_csrf(me: Me, csrf: Annotated[str, Form()] = "") -> CurrentPatient:
    if not csrf or csrf != me.session.csrf_token:
        raise Forbidden("This form has expired; reload the page and try again.")
    return me


def _header_csrf(me: Me, x_csrf_token: Annotated[str, Header()] = "") -> CurrentPatient:
    if not x_csrf_token or x_csrf_token != me.session.csrf_token:
        raise Forbidden("Send the X-CSRF-Token header from GET /api/me/session with every change.")
    return me


# The signed-in patient whose form (or API call) carries their session's CSRF token.
FormMe = Annotated[CurrentPatient, Depends(_form_csrf)]
ApiMe = Annotated[CurrentPatient, Depends(_header_csrf)]
