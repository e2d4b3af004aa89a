"""The first pages: health, sign-in (with throttling), sign-out, and the clinic list by role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select

from ketaflow.demo.catalog import DEMO_PASSWORD
from ketaflow.store import models as m
from ketaflow.store.migrate import head_revision
from ketaflow.web.app import create_app
from tests.integration.web.sign_in_support import post_login

DIRECTOR_AUS = "director1.aus@demo.ketaflow.org"
NURSE_DEN = "nurse1.den@demo.ketaflow.org"


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(demo_engine)) as c:
        yield c
    with demo_engine.begin() as conn:  # sign-in attempts are not clinical facts; reset the throttle
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


def sign_in(client: TestClient, email: str, password: str = DEMO_PASSWORD) -> None:
    response = post_login(client, email, password)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/clinics"


def test_it_reports_health_without_signing_in(client: TestClient) -> None:
    data = client.get("/health").json()
    assert data["status"] == "ok" and data["schema"] == head_revision()


def test_it_sends_a_stranger_to_the_sign_in_page(client: TestClient) -> None:
    assert client.get("/clinics", follow_redirects=False).headers["location"] == "/login"
    api = client.get("/api/clinics")
    assert api.status_code == 401 and api.json() == {"error": "Sign in first."}


def test_it_shows_a_director_only_their_clinic(client: TestClient) -> None:
    sign_in(client, DIRECTOR_AUS)
    clinics = client.get("/api/clinics").json()
    assert [c["code"] for c in clinics] == ["aus"]
    assert clinics[0]["patients"] > 0 and clinics[0]["infusions"] > 0
    page = client.get("/clinics")
    assert "Blue Heron Austin" in page.text and "Blue Heron Denver" not in page.text


def test_it_shows_the_administrator_every_clinic(client: TestClient) -> None:
    sign_in(client, "admin@demo.ketaflow.org")
    assert sorted(c["code"] for c in client.get("/api/clinics").json()) == ["aus", "den"]


def test_it_sets_a_safe_session_cookie(client: TestClient) -> None:
    response = post_login(client, NURSE_DEN)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http here


def test_the_cookie_is_secure_when_the_request_came_over_https(demo_engine: Engine) -> None:
    with TestClient(create_app(demo_engine), base_url="https://testserver") as https:
        response = post_login(https, NURSE_DEN)
        assert response.status_code == 303
        assert "; secure" in response.headers["set-cookie"].lower()
        assert https.get("/api/me").status_code == 200  # and it is sent back over https


def test_it_refuses_a_wrong_password_with_a_plain_sentence(client: TestClient, demo_engine: Engine) -> None:
    response = post_login(client, NURSE_DEN, "nope")
    assert response.status_code == 400
    assert "do not match; check them and try again" in response.text
    assert "Traceback" not in response.text
    with demo_engine.connect() as conn:
        failed = conn.scalar(
            select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.action == "auth.sign_in_failed")
        )
    assert failed and failed >= 1


def test_it_throttles_repeated_failures(client: TestClient) -> None:
    for _ in range(10):
        assert post_login(client, NURSE_DEN, "nope").status_code == 400
    blocked = post_login(client, NURSE_DEN)
    assert blocked.status_code == 429
    assert "Too many failed sign-ins from this address" in blocked.text
    assert 0 < int(blocked.headers["Retry-After"]) <= 15 * 60


def test_it_signs_out_only_with_the_form_token(client: TestClient) -> None:
    sign_in(client, NURSE_DEN)
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    page = client.get("/clinics").text
    token = page.split('name="csrf" value="')[1].split('"')[0]
    out = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/api/clinics").status_code == 401


def test_it_audits_who_listed_the_clinics(client: TestClient, demo_engine: Engine) -> None:
    sign_in(client, DIRECTOR_AUS)
    client.get("/api/clinics")
    with demo_engine.connect() as conn:
        actors = conn.scalars(
            select(m.AuditEvent.actor_label).where(m.AuditEvent.action == "clinic.list")
        ).all()
    assert DIRECTOR_AUS in actors


def test_it_answers_unknown_pages_without_a_stack_trace(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is no page at this address." in response.text
    assert client.get("/api/nothing").json() == {"error": "There is no page at this address."}


def test_the_clinic_list_links_the_network_outcomes_for_those_who_may_see_them(client: TestClient) -> None:
    for who, shown in (("director1.aus", True), ("nurse1.aus", False)):
        client.cookies.clear()
        r = post_login(client, f"{who}@demo.ketaflow.org")
        assert r.status_code == 303
        page = client.get("/clinics").text
        assert ('href="/outcomes"' in page) is shown, who
