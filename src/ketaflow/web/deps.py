"""Request dependencies shared by every route: database session, signed-in user, CSRF, clock."""

import os
import secrets
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Header, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from ketaflow.errors import Forbidden
from ketaflow.security import new_token
from ketaflow.services import auth
from ketaflow.services.audit import Actor, Origin
from ketaflow.services.permissions import Action, allowed
from ketaflow.store.models import utcnow

COOKIE = "ketaflow_session"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _can(who: auth.CurrentUser, action: str, clinic_id: uuid.UUID) -> bool:
    """For templates: may `who` do `action` (an `Action` name) at this clinic? (Links only; the
    services check again.)"""
    return allowed(who, Action[action], clinic_id)


templates.env.globals["can"] = _can
# For the header's link to the staff accounts (services/staff_accounts.py checks again).
templates.env.globals["manages_staff"] = lambda who: any(
    allowed(who, Action.MANAGE_STAFF, uuid.UUID(clinic)) for clinic in who.roles
)
# For the header's link to the HL7 pages (web/routes/hl7_admin.py checks again).
templates.env.globals["manages_monitors"] = lambda who: any(
    allowed(who, Action.MANAGE_MONITORS, uuid.UUID(clinic)) for clinic in who.roles
)
# Compiled templates are kept; by default Jinja also stats every template file (and each
# one it extends or includes) on every page to see whether it changed. Set
# KETAFLOW_RELOAD_TEMPLATES=1 while editing templates on a running server.
templates.env.auto_reload = os.environ.get("KETAFLOW_RELOAD_TEMPLATES", "") == "1"


class SignInNeeded(Exception):
    """Raised when a page needs a signed-in user; pages redirect, the API answers 401."""


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as db:
        yield db


Db = Annotated[Session, Depends(get_db)]


def _who_or_none(request: Request, db: Db) -> auth.CurrentUser | None:
    return _seen(request, auth.current_user(db, request.cookies.get(COOKIE), origin=request_origin(request)))


def _who(request: Request, db: Db) -> auth.CurrentUser:
    who = _seen(request, auth.current_user(db, request.cookies.get(COOKIE), origin=request_origin(request)))
    if who is None:
        raise SignInNeeded()
    return who


def _seen(request: Request, who: auth.CurrentUser | None) -> auth.CurrentUser | None:
    """Keep the signed-in user on the request: the access log names them, and a refusal is audited
    under their name (web/refusals.py)."""
    if who is not None:
        request.state.who = who
    return who


Who = Annotated[auth.CurrentUser, Depends(_who)]
MaybeWho = Annotated[auth.CurrentUser | None, Depends(_who_or_none)]


def _code_step(request: Request, db: Db) -> auth.CurrentUser:
    """A half-done sign-in waiting for its second-factor code (services/mfa.py)."""
    who = auth.pending_user(
        db, request.cookies.get(COOKIE), auth.SECOND_FACTOR, origin=request_origin(request)
    )
    if who is None:
        raise SignInNeeded()
    return who


def _enrolling(request: Request, db: Db) -> auth.CurrentUser:
    """A signed-in user, or a half-done sign-in whose role requires setting a second factor up."""
    token = request.cookies.get(COOKIE)
    origin = request_origin(request)
    who = auth.current_user(db, token, origin=origin) or auth.pending_user(
        db, token, auth.ENROL, origin=origin
    )
    if who is None:
        raise SignInNeeded()
    return who


def _enrolling_form(
    who: Annotated[auth.CurrentUser, Depends(_enrolling)], csrf: Annotated[str, Form()] = ""
) -> auth.CurrentUser:
    if csrf != who.session.csrf_token:
        raise Forbidden("This form has expired; reload the page and try again.")
    return who


def _code_step_form(
    who: Annotated[auth.CurrentUser, Depends(_code_step)], csrf: Annotated[str, Form()] = ""
) -> auth.CurrentUser:
    if csrf != who.session.csrf_token:
        raise Forbidden("This form has expired; sign in again.")
    return who


# The second step of a sign-in: giving a code (CodeStep) or setting a second factor up (Enrolling).
CodeStepForm = Annotated[auth.CurrentUser, Depends(_code_step_form)]
CodeStep = Annotated[auth.CurrentUser, Depends(_code_step)]
Enrolling = Annotated[auth.CurrentUser, Depends(_enrolling)]
EnrollingForm = Annotated[auth.CurrentUser, Depends(_enrolling_form)]


async def clock() -> datetime:
    """The current time; tests replace this dependency to freeze the clock.

    `async` only so that FastAPI calls it on the event loop instead of a worker thread.
    """
    return utcnow()


Now = Annotated[datetime, Depends(clock)]


def _form_csrf(who: Who, csrf: Annotated[str, Form()] = "") -> auth.CurrentUser:
    if csrf != who.session.csrf_token:
        raise Forbidden(FORM_EXPIRED)
    return who


def _header_csrf(who: Who, x_csrf_token: Annotated[str, Header()] = "") -> auth.CurrentUser:
    if x_csrf_token != who.session.csrf_token:
        raise Forbidden("Send the X-CSRF-Token header from GET /api/me with every change.")
    return who


# The sign-in form has no session yet, so its CSRF token lives in a cookie of its own that the
# form echoes (OWASP CSRF Prevention Cheat Sheet: login CSRF, "pre-sessions"). A forger can
# neither read the cookie nor set it: over https it is a __Host- cookie (only this host, only
# Secure), and it is SameSite=Strict and HTTP-only either way.
LOGIN_COOKIE = "ketaflow_login"
FORM_EXPIRED = "This form has expired; reload the page and try again."


def login_cookie_name(request: Request) -> str:
    return f"__Host-{LOGIN_COOKIE}" if request.url.scheme == "https" else LOGIN_COOKIE


def login_csrf_token(request: Request) -> str:
    """The sign-in form's token: the browser's own if it has one, else a new one."""
    return request.cookies.get(login_cookie_name(request)) or new_token()


def set_login_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        login_cookie_name(request),
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def login_csrf_ok(request: Request, sent: str) -> bool:
    expected = request.cookies.get(login_cookie_name(request), "")
    return bool(expected) and secrets.compare_digest(expected.encode(), sent.encode())


# A signed-in user whose form (or API call) carries their session's CSRF token.
FormWho = Annotated[auth.CurrentUser, Depends(_form_csrf)]
ApiWho = Annotated[auth.CurrentUser, Depends(_header_csrf)]


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def set_session_cookie(response: Response, request: Request, name: str, token: str, hours: float) -> None:
    """The one way a sign-in cookie is set: HTTP-only, SameSite=Lax, Secure when the request came
    over HTTPS. Behind a proxy that ends TLS, the scheme comes from X-Forwarded-Proto when the
    proxy is one of KETAFLOW_TRUSTED_PROXIES (web/app.py; none by default). Not tied to
    KETAFLOW_PUBLIC_URL: staff who reach the server on an internal http address must still be
    able to sign in."""
    response.set_cookie(
        name,
        token,
        max_age=int(hours * 3600),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def client_ip(request: Request) -> str | None:
    """The client's address: the connection's, or, behind one of KETAFLOW_TRUSTED_PROXIES, the
    first address in X-Forwarded-For that is not a trusted proxy (set by the middleware in
    web/app.py). Never a header a client could send straight to the server."""
    return request.client.host[:64] if request.client else None


def request_origin(request: Request) -> Origin:
    """Where a request came from, for its audit events: the one place it is built from a request
    (the signed-in staff member, the patient and anonymous actors all take it from here)."""
    return Origin(client_ip(request), request.headers.get("user-agent"))


def route_template(request: Request) -> str:
    """The matched route's template ("/patients/{patient_id}"), never the raw path (which holds
    record ids); "(no route)" when nothing matched, e.g. a 404 for an unknown address."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or "(no route)"


def anonymous_actor(request: Request) -> Actor:
    """The audit actor for someone not signed in (a password-reset link, a sign-in form)."""
    origin = request_origin(request)
    return Actor(None, "anonymous", origin.ip_address, origin.user_agent)
