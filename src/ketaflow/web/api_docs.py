"""The API's documentation page (/api/docs): Swagger UI served from this package, never a CDN.

Swagger UI's files come from the pinned PyPI package `swagger-ui-py` (its `static/` folder, Swagger
UI 5, which reads the OpenAPI 3.1 document FastAPI writes; see pyproject.toml), mounted under
/static/swagger-ui/; the page starts it from /static/api-docs.js, with no
inline script, so the Content-Security-Policy (`security_headers`) holds on this page too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ketaflow.web.deps import page

SWAGGER_UI_PREFIX = "/static/swagger-ui"
# The package's files, found without importing it (its Python half is for other frameworks).
_SPEC = importlib.util.find_spec("swagger_ui")
assert _SPEC is not None and _SPEC.submodule_search_locations, "swagger-ui-py is not installed"
SWAGGER_UI_FILES = Path(list(_SPEC.submodule_search_locations)[0]) / "static"
router = APIRouter()


@router.get("/api/docs", include_in_schema=False)
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI on /api/openapi.json (no patient data; the calls it makes need a sign-in)."""
    return page(request, "api_docs.html", swagger=SWAGGER_UI_PREFIX, openapi_url=request.app.openapi_url)


def mount_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI's own files and the page; call before mounting /static itself."""
    app.mount(SWAGGER_UI_PREFIX, StaticFiles(directory=SWAGGER_UI_FILES), name="swagger-ui")
    app.include_router(router)
