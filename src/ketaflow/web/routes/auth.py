"""Sign-in, sign-out and who am I."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ketaflow.errors import Forbidden, InvalidInput
from ketaflow.services import auth
from ketaflow.web import deps
from ketaflow.web.deps import COOKIE, Db, FormWho, MaybeWho, Who, page, request_origin, set_session_cookie

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(who: MaybeWho) -> Response:
    return RedirectResponse("/clinics" if who else "/login", status_code=303)


def _login_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    """The sign-in form with its CSRF token (and the cookie it is checked against)."""
    token = deps.login_csrf_token(request)
    response = page(request, "login.html", status_code=status_code, csrf=token, **context)
    deps.set_login_cookie(response, request, token)
    return response


@router.get("/login", include_in_schema=False)
def login_form(request: Request, who: MaybeWho) -> Response:
    if who:
        return RedirectResponse("/clinics", status_code=303)
    return _login_page(request, email="", error=None)


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    db: Db,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    if not deps.login_csrf_ok(request, csrf):
        return _login_page(request, status_code=403, email=email, error=deps.FORM_EXPIRED)
    origin = request_origin(request)
    try:
        signed = auth.sign_in(
            db,
            email,
            password,
            ip_address=origin.ip_address,
            user_agent=origin.user_agent,
            previous_token=request.cookies.get(COOKIE),
        )
    except auth.TooManyAttempts as exc:
        refused = _login_page(request, status_code=429, email=email, error=exc.message)
        refused.headers["Retry-After"] = str(exc.retry_after_s)
        return refused
    except (InvalidInput, Forbidden) as exc:
        status = 403 if isinstance(exc, Forbidden) else 400
        return _login_page(request, status_code=status, email=email, error=exc.message)
    # A second step may remain (services/mfa.py): a code, or setting a second factor up.
    after = {auth.SECOND_FACTOR: "/login/code", auth.ENROL: "/account/second-factor"}.get(
        signed.pending or "", "/clinics"
    )
    response = RedirectResponse(after, status_code=303)
    set_session_cookie(response, request, COOKIE, signed.token, auth.session_hours())
    response.delete_cookie(
        deps.login_cookie_name(request),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, db: Db, who: FormWho) -> Response:
    auth.sign_out(db, who)
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
