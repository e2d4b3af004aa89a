"""The FastAPI application: server-rendered pages and a JSON API under /api/."""

import logging
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

import ketaflow
from ketaflow.errors import Conflict, Forbidden, InvalidInput, KetaflowError, NotFound
from ketaflow.services import auth, clinics
from ketaflow.store.engine import make_sessionmaker
from ketaflow.store.migrate import current_revision

log = logging.getLogger("ketaflow.web")
HERE = Path(__file__).parent
COOKIE = "ketaflow_session"
STATUS_FOR = {InvalidInput: 400, Forbidden: 403, NotFound: 404, Conflict: 409}


def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(
        title="ketaflow", version=ketaflow.__version__, docs_url="/api/docs", openapi_url="/api/openapi.json"
    )
    sessions = make_sessionmaker(engine)
    templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def get_db() -> Iterator[Session]:
        with sessions() as db:
            yield db

    Db = Annotated[Session, Depends(get_db)]

    def who_or_none(request: Request, db: Db) -> auth.CurrentUser | None:
        return auth.current_user(db, request.cookies.get(COOKIE))

    def who_required(request: Request, db: Db) -> auth.CurrentUser:
        who = auth.current_user(db, request.cookies.get(COOKIE))
        if who is None:
            raise _SignInNeeded()
        return who

    Who = Annotated[auth.CurrentUser, Depends(who_required)]
    MaybeWho = Annotated[auth.CurrentUser | None, Depends(who_or_none)]

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    # ---- errors: a plain sentence, never a stack trace --------------------------------
    @app.exception_handler(_SignInNeeded)
    async def _sign_in_needed(request: Request, _exc: _SignInNeeded) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "Sign in first."}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(KetaflowError)
    async def _domain_error(request: Request, exc: KetaflowError) -> Response:
        status = next((code for cls, code in STATUS_FOR.items() if isinstance(exc, cls)), 400)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.message}, status_code=status)
        return page(request, "error.html", status_code=status, message=exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}" for e in exc.errors()
        )
        message = f"Some of what was sent cannot be used: {problems}."
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=422)
        return page(request, "error.html", status_code=422, message=message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=exc.status_code)
        return page(request, "error.html", status_code=exc.status_code, message=message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path, exc_info=exc)
        message = (
            "Something went wrong on our side and nothing was saved; please try again, "
            "and tell your administrator if it happens again."
        )
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=500)
        return page(request, "error.html", status_code=500, message=message)

    # ---- health ------------------------------------------------------------------------
    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness and schema check (no sign-in needed; no patient data)."""
        return {
            "status": "ok",
            "version": ketaflow.__version__,
            "database": engine.dialect.name,
            "schema": current_revision(engine),
        }

    # ---- sign-in -----------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def home(who: MaybeWho) -> Response:
        return RedirectResponse("/clinics" if who else "/login", status_code=303)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, who: MaybeWho) -> Response:
        if who:
            return RedirectResponse("/clinics", status_code=303)
        return page(request, "login.html", email="", error=None)

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    def login(
        request: Request,
        db: Db,
        email: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            signed = auth.sign_in(
                db, email, password, ip_address=_ip(request), user_agent=request.headers.get("user-agent")
            )
        except (InvalidInput, Forbidden) as exc:
            status = 429 if isinstance(exc, Forbidden) else 400
            return page(request, "login.html", status_code=status, email=email, error=exc.message)
        response = RedirectResponse("/clinics", status_code=303)
        _set_cookie(request, response, signed.token)
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, db: Db, who: Who, csrf: Annotated[str, Form()] = "") -> Response:
        if csrf != who.session.csrf_token:
            raise Forbidden("This form has expired; reload the page and try again.")
        auth.sign_out(db, who, ip_address=_ip(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    # ---- clinics -----------------------------------------------------------------------
    @app.get("/clinics", response_class=HTMLResponse, include_in_schema=False)
    def clinics_page(request: Request, db: Db, who: Who) -> Response:
        rows = clinics.list_clinics(db, who)
        return page(request, "clinics.html", who=who, clinics=rows)

    @app.get("/api/clinics")
    def clinics_api(db: Db, who: Who) -> list[dict[str, Any]]:
        """The clinics the signed-in user belongs to, with their counts."""
        return [{**asdict(c), "id": str(c.id)} for c in clinics.list_clinics(db, who)]

    return app


class _SignInNeeded(Exception):
    """Raised by the sign-in dependency; pages redirect, the API answers 401."""


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _set_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=auth.SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
