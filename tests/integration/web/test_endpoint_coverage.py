"""Every JSON API endpoint has role tests: the `COVERS` sets of the role-matrix modules cover the API."""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy import create_engine

import tests.integration.web as web_tests
from ketaflow.web.app import create_app


def _covered() -> set[tuple[str, str]]:
    covered: set[tuple[str, str]] = set()
    for info in pkgutil.iter_modules(web_tests.__path__):
        if info.name.startswith("test_roles_"):
            module = importlib.import_module(f"tests.integration.web.{info.name}")
            covers = getattr(module, "COVERS", None)
            assert covers, (
                f"{info.name} must declare COVERS, the (method, path) pairs it tests for every role"
            )
            covered |= set(covers)
    return covered


def _api_endpoints() -> set[tuple[str, str]]:
    """Every endpoint of the JSON API, as the generated OpenAPI document describes it."""
    paths = create_app(create_engine("sqlite://")).openapi()["paths"]
    return {
        (method.upper(), path) for path, ops in paths.items() if path.startswith("/api/") for method in ops
    }


def test_every_api_endpoint_has_role_tests() -> None:
    missing = sorted(_api_endpoints() - _covered())
    assert not missing, f"API endpoints without role tests: {missing}"


def test_role_tests_name_only_real_endpoints() -> None:
    stale = sorted(_covered() - _api_endpoints())
    assert not stale, f"COVERS names endpoints the app does not have: {stale}"
