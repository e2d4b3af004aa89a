"""Shared pieces of the role-matrix API tests: who signs in, and which endpoints a module covers.

Every `test_roles_*.py` module declares `COVERS`, the set of (method, path template) it
tests for every role; `test_endpoint_coverage.py` checks that together they cover every
endpoint of the JSON API, so a new endpoint cannot land without its role tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.sign_in_support import post_login

# label -> demo login (None: not signed in). The demo test network has clinics "aus" and "den".
ROLES: dict[str, str | None] = {
    "admin": "admin",
    "director": "director1.aus",
    "psychiatrist": "psychiatrist1.aus",
    "nurse": "nurse1.aus",
    "front_desk": "frontdesk1.aus",
    "other_clinic_nurse": "nurse1.den",
    "anonymous": None,
}
AUS_STAFF = ("admin", "director", "psychiatrist", "nurse", "front_desk")
# Who may read clinical records (permissions.READ_CLINICAL): not the front desk.
CLINICAL_READERS = ("admin", "director", "psychiatrist", "nurse")


@dataclass
class Caller:
    """A test client signed in as one role, with its CSRF header."""

    client: TestClient
    headers: dict[str, str]


def callers(engine: Engine, now: datetime) -> Iterator[dict[str, Caller]]:
    """One signed-in client per role (and an anonymous one), on an app frozen at `now`."""
    app = create_app(engine)
    app.dependency_overrides[clock] = lambda: now.astimezone(UTC)
    made: dict[str, Caller] = {}
    for label, login in ROLES.items():
        client = TestClient(app)
        client.__enter__()
        headers: dict[str, str] = {}
        if login is not None:
            r = post_login(client, f"{login}@demo.ketaflow.org")
            assert r.status_code == 303, f"sign-in as {login} failed: {r.status_code}"
            headers = {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}
        made[label] = Caller(client, headers)
    try:
        yield made
    finally:
        for c in made.values():
            c.client.__exit__(None, None, None)


def expected(label: str, allowed: set[str] | tuple[str, ...], *, refused: int = 403) -> int:
    """The status a role should get: 200 if allowed, 401 anonymous, else `refused`."""
    if label == "anonymous":
        return 401
    return 200 if label in allowed else refused
