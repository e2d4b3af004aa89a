"""Who may see the director's page and its API (admin and director of the clinic); bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete

from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.test_director import NOW, sign_in

# (login, may see the director's page [VIEW_CLINIC_DASHBOARD])
COVERS = {("GET", "/api/clinics/{code}/director")}
ROLES = [
    ("admin", True),
    ("director1.aus", True),
    ("psychiatrist1.aus", False),
    ("nurse1.aus", False),
    ("frontdesk1.aus", False),
    ("nurse1.den", False),  # a nurse of the other demo clinic
    ("director1.den", False),  # the other clinic's director
]


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(demo_engine)
    app.dependency_overrides[clock] = lambda: NOW
    with TestClient(app) as c:
        yield c
    with demo_engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


@pytest.mark.parametrize(("login", "allowed"), ROLES)
def test_director_api_and_page_by_role(client: TestClient, login: str, allowed: bool) -> None:
    sign_in(client, login)
    api = client.get("/api/clinics/aus/director")
    assert api.status_code == (200 if allowed else 403), api.text
    if allowed:
        assert api.json()["clinic"] == "aus" and len(api.json()["week"]["days"]) == 7
    else:
        assert api.json()["error"].endswith(".") and "Traceback" not in api.text
    page = client.get("/clinics/aus/director")
    assert page.status_code == (200 if allowed else 403)


def test_anonymous_is_401_on_the_api_and_sent_to_sign_in_on_the_page(client: TestClient) -> None:
    client.cookies.clear()
    r = client.get("/api/clinics/aus/director")
    assert r.status_code == 401 and r.json()["error"] == "Sign in first."
    page = client.get("/clinics/aus/director", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/api/clinics/aus/director?week=2031-02-30", 400, "YYYY-MM-DD"),
        ("/api/clinics/aus/director?week=soon", 400, "YYYY-MM-DD"),
        ("/api/clinics/nowhere/director", 404, "no clinic"),
    ],
)
def test_bad_input_is_a_sentence(client: TestClient, url: str, status: int, words: str) -> None:
    sign_in(client, "director1.aus")
    r = client.get(url)
    assert r.status_code == status and words in r.json()["error"]


def test_the_director_api_has_no_write_endpoint(client: TestClient) -> None:
    sign_in(client, "director1.aus")
    assert client.post("/api/clinics/aus/director", json={}).status_code == 405
