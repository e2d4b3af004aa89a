"""One's own account: the second step of a sign-in, the second factor, the password, reset links.

Pages and a JSON API (/api/account/...). A password change, a finished second step or a finished
enrolment gives the browser a new session cookie (the old session is ended).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from ketaflow.errors import Conflict, Forbidden, InvalidInput
from ketaflow.passwords import MAX_LENGTH, MIN_LENGTH
from ketaflow.services import auth, mfa, staff_accounts
from ketaflow.services.audit import Actor
from ketaflow.services.auth import CurrentUser, SignedIn
from ketaflow.web.deps import (
    COOKIE,
    ApiWho,
    CodeStep,
    CodeStepForm,
    Db,
    Enrolling,
    EnrollingForm,
    FormWho,
    Now,
    Who,
    anonymous_actor,
    page,
    set_session_cookie,
)

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _actor(request: Request, who: CurrentUser) -> Actor:
    return who.actor()  # its origin is the request's (web/deps.py)


def _anonymous(request: Request) -> Actor:
    return anonymous_actor(request)


def _with_cookie(response: Response, request: Request, signed: SignedIn) -> Response:
    set_session_cookie(response, request, COOKIE, signed.token, auth.session_hours())
    response.headers.update(NO_STORE)
    return response


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    response = page(request, name, status_code=status_code, **context)
    response.headers.update(NO_STORE)
    return response


# ---- the second step of a sign-in -----------------------------------------------------------


@router.get("/login/code", include_in_schema=False)
def code_form(request: Request, who: CodeStep) -> Response:
    return _page(request, "login_code.html", pending=who, error=None)


@router.post("/login/code", include_in_schema=False)
def code_submit(
    request: Request, db: Db, who: CodeStepForm, now: Now, code: Annotated[str, Form()] = ""
) -> Response:
    try:
        signed = mfa.complete_sign_in(db, who, code, now, actor=_actor(request, who))
    except InvalidInput as exc:
        return _page(request, "login_code.html", status_code=400, pending=who, error=exc.message)
    except Conflict as exc:  # the secret cannot be opened with this server's key (services/mfa.py)
        return _page(request, "login_code.html", status_code=409, pending=who, error=exc.message)
    except Forbidden as exc:
        response = _page(request, "login.html", status_code=429, email=who.user.email, error=exc.message)
        response.delete_cookie(COOKIE)
        return response
    return _with_cookie(RedirectResponse("/clinics", status_code=303), request, signed)


# ---- my account -----------------------------------------------------------------------------


def _account(request: Request, db: Db, who: CurrentUser, status_code: int = 200, **extra: Any) -> Response:
    extra.setdefault("error", None)
    extra.setdefault("field", None)
    extra.setdefault("changed", False)
    return _page(
        request,
        "account.html",
        status_code=status_code,
        who=who,
        mfa_on=who.user.mfa_enabled_at is not None,
        mfa_required=mfa.required_for(db, who.user.id),
        codes_left=mfa.recovery_codes_left(db, who.user.id),
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        **extra,
    )


@router.get("/account", include_in_schema=False)
def account_page(request: Request, db: Db, who: Who) -> Response:
    return _account(request, db, who, changed=request.query_params.get("changed") == "1")


@router.post("/account/password", include_in_schema=False)
def password_form(
    request: Request,
    db: Db,
    who: FormWho,
    now: Now,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    try:
        if new_password != confirm_password:
            raise InvalidInput(
                "The two new passwords differ; type the same one twice.", field="confirm_password"
            )
        signed = staff_accounts.change_password(
            db, who, current_password, new_password, now, actor=_actor(request, who)
        )
    except InvalidInput as exc:
        db.rollback()
        return _account(request, db, who, status_code=400, error=exc.message, field=exc.field)
    return _with_cookie(RedirectResponse("/account?changed=1", status_code=303), request, signed)


# ---- the second factor ----------------------------------------------------------------------


def _enrol_page(
    request: Request, db: Db, who: CurrentUser, status_code: int = 200, error: str | None = None
) -> Response:
    user = mfa.start_enrolment(db, who, actor=_actor(request, who))
    uri = mfa.otpauth_uri(user)
    return _page(
        request,
        "mfa_enrol.html",
        status_code=status_code,
        who=who if who.session.pending is None else None,
        pending=who.session.pending,
        qr=mfa.qr_svg(uri),
        secret=mfa.secret_of(user),
        csrf=who.session.csrf_token,
        error=error,
    )


@router.get("/account/second-factor", include_in_schema=False)
def second_factor_page(request: Request, db: Db, who: Enrolling) -> Response:
    if who.user.mfa_enabled_at is not None:
        return RedirectResponse("/account", status_code=303)
    return _enrol_page(request, db, who)


@router.post("/account/second-factor", include_in_schema=False)
def second_factor_confirm(
    request: Request, db: Db, who: EnrollingForm, now: Now, code: Annotated[str, Form()] = ""
) -> Response:
    try:
        done = mfa.confirm_enrolment(db, who, code, now, actor=_actor(request, who))
    except InvalidInput as exc:
        return _enrol_page(request, db, who, status_code=400, error=exc.message)
    except Conflict:
        return RedirectResponse("/account", status_code=303)
    response = _page(
        request, "mfa_codes.html", who=who if done.signed_in is None else None, codes=done.recovery_codes
    )
    if done.signed_in is not None:
        _with_cookie(response, request, done.signed_in)
    return response


@router.post("/account/second-factor/recovery-codes", include_in_schema=False)
def recovery_codes_form(
    request: Request, db: Db, who: FormWho, now: Now, code: Annotated[str, Form()] = ""
) -> Response:
    try:
        codes = mfa.new_recovery_codes(db, who, code, now, actor=_actor(request, who))
    except (InvalidInput, Conflict) as exc:
        return _account(request, db, who, status_code=400, error=exc.message, field="code")
    return _page(request, "mfa_codes.html", who=who, codes=codes)


@router.post("/account/second-factor/remove", include_in_schema=False)
def remove_form(
    request: Request, db: Db, who: FormWho, now: Now, password: Annotated[str, Form()] = ""
) -> Response:
    try:
        mfa.remove(db, who, password, now, actor=_actor(request, who))
    except (InvalidInput, Forbidden) as exc:
        return _account(request, db, who, status_code=400, error=exc.message, field="password")
    return RedirectResponse("/account", status_code=303)


# ---- a one-time link to set a password ------------------------------------------------------


@router.get("/reset/{token}", include_in_schema=False)
def reset_form(request: Request, token: str, db: Db, now: Now) -> Response:
    try:
        user = staff_accounts.check_reset_link(db, token, now)
    except InvalidInput as exc:
        return _page(
            request, "reset_password.html", status_code=410, token=None, error=exc.message, user=None
        )
    response = _page(
        request,
        "reset_password.html",
        token=token,
        user=user,
        error=None,
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
    )
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@router.post("/reset/{token}", include_in_schema=False)
def reset_submit(
    request: Request,
    token: str,
    db: Db,
    now: Now,
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    # No CSRF field: the unguessable token in the address is the secret a forger lacks.
    try:
        user = staff_accounts.check_reset_link(db, token, now)
    except InvalidInput as exc:
        return _page(
            request, "reset_password.html", status_code=410, token=None, error=exc.message, user=None
        )
    try:
        if new_password != confirm_password:
            raise InvalidInput("The two passwords differ; type the same one twice.")
        staff_accounts.use_reset_link(db, token, new_password, now, actor=_anonymous(request))
    except InvalidInput as exc:
        db.rollback()
        return _page(
            request,
            "reset_password.html",
            status_code=400,
            token=token,
            user=user,
            error=exc.message,
            min_length=MIN_LENGTH,
            max_length=MAX_LENGTH,
        )
    response = _page(request, "reset_done.html", user=user)
    response.delete_cookie(COOKIE)
    return response


# ---- JSON API -------------------------------------------------------------------------------


class PasswordIn(BaseModel):
    current_password: str = ""
    new_password: str = ""


@router.post("/api/account/password")
def password_api(request: Request, body: PasswordIn, db: Db, who: ApiWho, now: Now) -> Response:
    """Change your own password (the current one is required). Every session of yours ends; this
    answer sets a new session cookie, and carries its CSRF token."""
    signed = staff_accounts.change_password(
        db, who, body.current_password, body.new_password, now, actor=_actor(request, who)
    )

    return _with_cookie(JSONResponse({"changed": True, "csrf_token": signed.csrf_token}), request, signed)


def _status(db: Db, who: CurrentUser) -> dict[str, Any]:
    return {
        "enabled": who.user.mfa_enabled_at is not None,
        "enabled_at": who.user.mfa_enabled_at.isoformat() if who.user.mfa_enabled_at else None,
        "required": mfa.required_for(db, who.user.id),
        "recovery_codes_left": mfa.recovery_codes_left(db, who.user.id),
    }


@router.get("/api/account/second-factor")
def second_factor_api(db: Db, who: Who) -> dict[str, Any]:
    """Whether your second factor is on, whether your role requires one, recovery codes left."""
    return _status(db, who)


@router.post("/api/account/second-factor/start")
def second_factor_start_api(request: Request, db: Db, who: ApiWho) -> Response:
    """Start setting up a second factor: the secret for the authenticator app (shown to you only)."""
    user = mfa.start_enrolment(db, who, actor=_actor(request, who))

    response = JSONResponse({"secret": mfa.secret_of(user), "otpauth_uri": mfa.otpauth_uri(user)})
    response.headers.update(NO_STORE)
    return response


class CodeIn(BaseModel):
    code: str = ""


@router.post("/api/account/second-factor/confirm")
def second_factor_confirm_api(request: Request, body: CodeIn, db: Db, who: ApiWho, now: Now) -> Response:
    """Switch the second factor on with a first code; returns the recovery codes, this once."""
    done = mfa.confirm_enrolment(db, who, body.code, now, actor=_actor(request, who))

    response = JSONResponse({"enabled": True, "recovery_codes": done.recovery_codes})
    response.headers.update(NO_STORE)
    return response


@router.post("/api/account/second-factor/recovery-codes")
def recovery_codes_api(request: Request, body: CodeIn, db: Db, who: ApiWho, now: Now) -> Response:
    """Replace your recovery codes (the old ones stop working); needs a current code."""
    codes = mfa.new_recovery_codes(db, who, body.code, now, actor=_actor(request, who))

    response = JSONResponse({"recovery_codes": codes})
    response.headers.update(NO_STORE)
    return response


class RemoveIn(BaseModel):
    password: str = ""


@router.post("/api/account/second-factor/remove")
def remove_api(request: Request, body: RemoveIn, db: Db, who: ApiWho, now: Now) -> dict[str, Any]:
    """Switch your second factor off (your password is required; refused if your role requires one)."""
    mfa.remove(db, who, body.password, now, actor=_actor(request, who))
    return {"enabled": False}
