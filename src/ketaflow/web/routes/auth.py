"""Sign-in, sign-out and who am I."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ketaflow.errors import Forbidden, InvalidInput
from ketaflow.services import auth
from ketaflow.web.deps import COOKIE, Db, FormWho, MaybeWho, Who, client_ip, page, set_session_cookie

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(who: MaybeWho) -> Response:
    return RedirectResponse("/clinics" if who else "/login", status_code=303)


@router.get("/login", include_in_schema=False)
def login_form(request: Request, who: MaybeWho) -> Response:
    if who:
        return RedirectResponse("/clinics", status_code=303)
    return page(request, "login.html", email="", error=None)


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    db: Db,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    try:
        signed = auth.sign_in(
            db, email, password, ip_address=client_ip(request), user_agent=request.headers.get("user-agent")
        )
    except (InvalidInput, Forbidden) as exc:
        status = 429 if isinstance(exc, Forbidden) else 400
        return page(request, "login.html", status_code=status, email=email, error=exc.message)
    # A second step may remain (services/mfa.py): a code, or setting a second factor up.
    after = {auth.SECOND_FACTOR: "/login/code", auth.ENROL: "/account/second-factor"}.get(
        signed.pending or "", "/clinics"
    )
    response = RedirectResponse(after, status_code=303)
    set_session_cookie(response, request, COOKIE, signed.token, auth.SESSION_HOURS)
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, db: Db, who: FormWho) -> Response:
    auth.sign_out(db, who, ip_address=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/api/me")
def me(who: Who) -> dict[str, Any]:
    """The signed-in user, their roles per clinic, and the CSRF token to send with changes."""
    return {
        "email": who.user.email,
        "name": who.user.full_name,
        "roles": {clinic: sorted(r.value for r in roles) for clinic, roles in who.roles.items()},
        "csrf_token": who.session.csrf_token,
    }
