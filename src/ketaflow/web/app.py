"""The FastAPI application: server-rendered pages and a JSON API under /api/."""

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import ketaflow
from ketaflow.errors import Forbidden, Hidden, KetaflowError, StorageFull
from ketaflow.security import dummy_hash
from ketaflow.services import fhir_bulk
from ketaflow.settings import get_settings
from ketaflow.store.engine import is_storage_full, make_sessionmaker
from ketaflow.store.migrate import current_revision
from ketaflow.web import forms
from ketaflow.web.access_log import AccessLog
from ketaflow.web.api_docs import mount_api_docs
from ketaflow.web.deps import SignInNeeded, page
from ketaflow.web.nul_guard import RefuseUnstorable
from ketaflow.web.refusals import audit_refusal
from ketaflow.web.request_size import LimitBody
from ketaflow.web.routes import (
    account,
    auth,
    chairside,
    clinic_hours,
    clinics,
    consultation,
    controlled,
    corrections,
    director,
    discharge,
    frontdesk,
    hl7_admin,
    messages,
    outcomes,
    patients,
    portal,
    registration,
    sessions,
    staff,
)
from ketaflow.web.routes import fhir as fhir_routes
from ketaflow.web.security_headers import SecurityHeaders

log = logging.getLogger("ketaflow.web")
# 507 Insufficient Storage (RFC 4918 section 11.5): the server cannot store what the request needs.
STATUS_FOR = forms.STATUS_FOR


def create_app(
    engine: Engine, *, trusted_proxies: Sequence[str] | None = None, max_body_bytes: int | None = None
) -> FastAPI:
    """The app on `engine`; `trusted_proxies` (default: KETAFLOW_TRUSTED_PROXIES) are the reverse
    proxies whose X-Forwarded-For and X-Forwarded-Proto are believed; request bodies up to
    `max_body_bytes` (default: the setting)."""

    # FastAPI's own docs pages load Swagger UI and ReDoc from a CDN: off; api_docs serves Swagger
    # UI from the package instead.
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # FHIR bulk exports left waiting or running by the last server start again (fhir_bulk.py).
        await run_in_threadpool(fhir_bulk.resume_jobs, engine, app.state.data_dir)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="ketaflow",
        version=ketaflow.__version__,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.sessions = make_sessionmaker(engine)
    app.state.engine = engine
    app.state.data_dir = get_settings().data_dir  # FHIR bulk export files go under it
    mount_api_docs(app)  # before /static, which would otherwise answer for /static/swagger-ui/
    app.mount("/static", StaticFiles(packages=[("ketaflow.web", "static")]), name="static")
    for module in (
        auth,
        clinics,
        frontdesk,
        patients,
        sessions,
        registration,
        consultation,
        chairside,
        corrections,
        discharge,
        portal,
        messages,
        director,
        clinic_hours,
        outcomes,
        account,
        staff,
        controlled,
        fhir_routes,
        hl7_admin,
    ):
        app.include_router(module.router)

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith(("/api/", "/fhir/")) or request.url.path == "/fhir"

    def json_error(request: Request, body: dict[str, Any], status: int) -> Response:
        """An API error: ketaflow's {"error": ...} under /api, an OperationOutcome under /fhir."""
        if request.url.path.startswith("/fhir"):
            return fhir_routes.outcome(
                body["error"], status, field=body.get("field"), fields=body.get("fields")
            )
        return JSONResponse(body, status_code=status)

    # ---- errors: a plain sentence, never a stack trace --------------------------------
    @app.exception_handler(SignInNeeded)
    async def _sign_in_needed(request: Request, _exc: SignInNeeded) -> Response:
        if wants_json(request):
            return json_error(request, {"error": "Sign in first."}, 401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(KetaflowError)
    async def _domain_error(request: Request, exc: KetaflowError) -> Response:
        status = next((code for cls, code in STATUS_FOR.items() if isinstance(exc, cls)), 400)
        if isinstance(exc, (Forbidden, Hidden)):  # a refused attempt is audited (web/refusals.py)
            await run_in_threadpool(audit_refusal, request, exc, status)
        if wants_json(request):
            return json_error(request, forms.refusal(exc), status)
        return page(request, "error.html", status_code=status, message=exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        # Our readers' own sentences where they refused a field (web/forms.py), pydantic's otherwise.
        fields = {
            name: text if text.endswith(".") else f"{text}."
            for name, text in forms.validation_problems(exc).items()
        }
        problems = " ".join(f"{name or 'request'}: {text}" for name, text in fields.items())
        message = f"Some of what was sent cannot be used: {problems}"
        if wants_json(request):
            return json_error(request, {"error": message, "fields": fields}, 422)
        return page(request, "error.html", status_code=422, message=message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
        if wants_json(request):
            return json_error(request, {"error": message}, exc.status_code)
        return page(request, "error.html", status_code=exc.status_code, message=message)

    @app.exception_handler(OperationalError)
    async def _database_busy(request: Request, exc: OperationalError) -> Response:
        if is_storage_full(exc):  # no room left: waiting will not help, an administrator must act
            log.error("database full on %s: %s", request.url.path, str(exc).splitlines()[0])
            return await _domain_error(request, StorageFull())
        log.warning("database unavailable on %s: %s", request.url.path, str(exc).splitlines()[0])
        message = "The clinic database is busy or unreachable and nothing was saved; try again in a moment."
        if wants_json(request):
            return json_error(request, {"error": message}, 503)
        return page(request, "error.html", status_code=503, message=message)

    @app.exception_handler(DataError)
    async def _not_storable(request: Request, exc: DataError) -> Response:
        # A value the database refuses (e.g. out of its range) after our checks let it through.
        log.warning("database refused a value on %s: %s", request.url.path, str(exc).splitlines()[0])
        message = (
            "A value that was sent cannot be stored (it is out of range or malformed); "
            "check the entries and send them again. Nothing was saved."
        )
        if wants_json(request):
            return json_error(request, {"error": message}, 400)
        return page(request, "error.html", status_code=400, message=message)

    @app.exception_handler(OverflowError)
    async def _off_the_calendar(request: Request, exc: OverflowError) -> Response:
        # The last guard behind input_rules and nul_guard: a date or number that ran off the
        # calendar or past what the database holds, somewhere a check did not see it coming.
        log.warning("a value overflowed on %s: %s", request.url.path, exc)
        message = (
            "A date or number that was sent is beyond what the clinic's calendar or database can hold "
            "(dates must fall in the years 1900 to 2200); check the entries and send them again. "
            "Nothing was saved."
        )
        if wants_json(request):
            return json_error(request, {"error": message}, 400)
        return page(request, "error.html", status_code=400, message=message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path, exc_info=exc)
        message = (
            "Something went wrong on our side and nothing was saved; please try again, "
            "and tell your administrator if it happens again."
        )
        if wants_json(request):
            return json_error(request, {"error": message}, 500)
        return page(request, "error.html", status_code=500, message=message)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness and schema check (no sign-in needed; no patient data)."""
        return {
            "status": "ok",
            "version": ketaflow.__version__,
            "database": engine.dialect.name,
            "schema": current_revision(engine),
        }

    def refusal_page(request: Request, message: str, status: int) -> Response:
        """A body refused before any route read it: an OperationOutcome under /fhir, else the page."""
        if request.url.path.startswith("/fhir"):
            return fhir_routes.outcome(message, status)
        return page(request, "error.html", status_code=status, message=message)

    app.add_middleware(
        RefuseUnstorable,
        render_page=lambda request, message: refusal_page(request, message, 400),
    )
    # Added after the NUL guard, so it runs before it: a body over the limit is refused before
    # anything reads it (only the proxy-header step, which reads no body, runs earlier).
    app.add_middleware(
        LimitBody,
        max_bytes=max_body_bytes or get_settings().max_body_bytes,
        render_page=refusal_page,
    )
    # Inside the proxy-header step (so it logs the client's resolved address), outside the rest
    # (so it logs a 413 or a refused NUL too): one JSON line per request (web/access_log.py).
    app.add_middleware(AccessLog)
    # Outermost: the client address and scheme every other part sees. uvicorn's own proxy-header
    # handling is switched off (cli/system.py), so this is the one place they are read, and only
    # from a configured proxy: with none, a forwarded header is ignored and the connection counts.
    proxies = get_settings().trusted_proxies if trusted_proxies is None else tuple(trusted_proxies)
    if proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(proxies))
    # The dummy hash an unknown e-mail is checked against, made now rather than in the first
    # such sign-in (which would otherwise take twice as long as a wrong password).
    dummy_hash()
    with_security_headers(app)
    return app


def with_security_headers(app: FastAPI) -> None:
    """Security headers on every answer, including the 500 page that Starlette's outermost
    error middleware writes (a middleware added with add_middleware sits inside that one)."""
    build = app.build_middleware_stack

    def build_with_headers() -> Any:
        return SecurityHeaders(build())

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
