"""The second factor (issue 11 item 3): TOTP enrolment, the second sign-in step, recovery codes,
and KETAFLOW_REQUIRE_MFA sending a required role to enrol before anything else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.settings import get_settings
from ketaflow.store import models as m
from ketaflow.web.app import create_app
from tests.integration.web.accounts_support import NewStaff, Signed, demo, new_staff, sign_in, totp_now
from tests.integration.web.sign_in_support import post_login


@pytest.fixture
def app(demo_engine: Engine) -> Iterator[FastAPI]:
    yield create_app(demo_engine)


@pytest.fixture
def director(app: FastAPI) -> Signed:
    return sign_in(app, demo("director1.aus"))


def _password_step(app: FastAPI, person: NewStaff) -> tuple[TestClient, str]:
    client = TestClient(app)
    r = post_login(client, person.email, person.password)
    assert r.status_code == 303
    return client, r.headers["location"]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)


def _enrol_by_api(me: Signed) -> tuple[str, list[str]]:
    start = me.client.post("/api/account/second-factor/start", headers=me.headers)
    assert start.status_code == 200 and start.headers["cache-control"] == "no-store"
    secret = start.json()["secret"]
    assert start.json()["otpauth_uri"].startswith("otpauth://totp/ketaflow:")
    wrong = me.client.post("/api/account/second-factor/confirm", json={"code": "000000"}, headers=me.headers)
    assert wrong.status_code == 400 or totp_now(secret) == "000000"
    done = me.client.post(
        "/api/account/second-factor/confirm", json={"code": totp_now(secret)}, headers=me.headers
    )
    assert done.status_code == 200, done.text
    codes = done.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


def test_enrolled_staff_sign_in_in_two_steps(app: FastAPI, director: Signed, demo_engine: Engine) -> None:
    person = new_staff(app, director)
    secret, codes = _enrol_by_api(sign_in(app, person.email, person.password))
    client, where = _password_step(app, person)
    assert where == "/login/code"
    assert client.get("/api/me").status_code == 401, "a half-done sign-in opens nothing"
    assert client.get("/clinics", follow_redirects=False).status_code == 303
    page = client.get("/login/code")
    assert page.status_code == 200 and "authenticator app" in page.text
    csrf = _csrf(page.text)
    bad = client.post("/login/code", data={"csrf": csrf, "code": "12345"})
    assert bad.status_code == 400 and "not right" in bad.text
    # The code enrolment used is spent (its time step is used up): the app's next code is given.
    next_code = totp_now(secret, datetime.now(UTC) + timedelta(seconds=30))
    ok = client.post("/login/code", data={"csrf": csrf, "code": next_code}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/clinics"
    assert client.get("/api/me").status_code == 200
    # The same code cannot be used again (RFC 6238 section 5.2).
    again, _ = _password_step(app, person)
    replay = again.post(
        "/login/code", data={"csrf": _csrf(again.get("/login/code").text), "code": totp_now(secret)}
    )
    assert replay.status_code == 400
    # A recovery code works once instead.
    used = again.post(
        "/login/code",
        data={"csrf": _csrf(again.get("/login/code").text), "code": codes[0].upper()},
        follow_redirects=False,
    )
    assert used.status_code == 303 and again.get("/api/me").status_code == 200
    third, _ = _password_step(app, person)
    assert (
        third.post(
            "/login/code", data={"csrf": _csrf(third.get("/login/code").text), "code": codes[0]}
        ).status_code
        == 400
    )
    with Session(demo_engine) as db:
        stored = [
            r.code_sha256
            for r in db.scalars(select(m.StaffRecoveryCode).where(m.StaffRecoveryCode.user_id == person.id))
        ]
        actions = [
            e.action for e in db.scalars(select(m.AuditEvent).where(m.AuditEvent.entity_id == person.id))
        ]
    assert all(len(h) == 64 for h in stored) and not set(codes) & set(stored), "only digests are kept"
    assert {
        "mfa.enabled",
        "auth.password_ok_second_factor",
        "auth.second_factor_failed",
        "auth.sign_in",
    } <= set(actions)


def test_five_wrong_codes_end_the_half_done_sign_in(app: FastAPI, director: Signed) -> None:
    person = new_staff(app, director)
    _enrol_by_api(sign_in(app, person.email, person.password))
    client, _ = _password_step(app, person)
    csrf = _csrf(client.get("/login/code").text)
    statuses = [
        client.post("/login/code", data={"csrf": csrf, "code": "999999"}).status_code for _ in range(5)
    ]
    assert statuses[:4] == [400] * 4 and statuses[4] == 429
    assert client.get("/login/code", follow_redirects=False).status_code == 303


def test_the_enrolment_page_shows_a_qr_code_and_switches_the_factor_on(
    app: FastAPI, director: Signed
) -> None:
    person = new_staff(app, director)
    me = sign_in(app, person.email, person.password)
    page = me.client.get("/account/second-factor")
    assert page.status_code == 200 and "<svg" in page.text and "<script" not in page.text
    assert page.headers["cache-control"] == "no-store"
    secret = re.search(r'data-testid="mfa-secret">([A-Z2-7]+)<', page.text)
    assert secret
    done = me.client.post(
        "/account/second-factor", data={"csrf": _csrf(page.text), "code": totp_now(secret.group(1))}
    )
    assert done.status_code == 200 and "shown only this once" in done.text
    assert me.client.get("/api/account/second-factor").json()["enabled"] is True


def test_a_required_role_is_sent_to_enrol_before_anything_else(
    app: FastAPI, director: Signed, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = new_staff(app, director, roles=("psychiatrist",))
    monkeypatch.setenv("KETAFLOW_REQUIRE_MFA", "psychiatrist, director")
    get_settings.cache_clear()
    try:
        client, where = _password_step(app, person)
        assert where == "/account/second-factor"
        assert client.get("/api/me").status_code == 401
        assert client.get("/clinics", follow_redirects=False).status_code == 303
        assert client.get("/account", follow_redirects=False).status_code == 303
        page = client.get("/account/second-factor")
        assert page.status_code == 200 and "Your role requires a second factor" in page.text
        secret = re.search(r'data-testid="mfa-secret">([A-Z2-7]+)<', page.text)
        assert secret
        done = client.post(
            "/account/second-factor", data={"csrf": _csrf(page.text), "code": totp_now(secret.group(1))}
        )
        assert done.status_code == 200 and client.get("/api/me").status_code == 200
        me = Signed(client, {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]})
        assert me.client.get("/api/account/second-factor").json()["required"] is True
        removal = me.client.post(
            "/api/account/second-factor/remove", json={"password": person.password}, headers=me.headers
        )
        assert removal.status_code == 403
        # A role the setting does not name signs in with the password alone.
        sign_in(app, demo("nurse1.aus"))
    finally:
        monkeypatch.delenv("KETAFLOW_REQUIRE_MFA")
        get_settings.cache_clear()


def test_a_bad_require_mfa_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from ketaflow.errors import InvalidInput

    monkeypatch.setenv("KETAFLOW_REQUIRE_MFA", "admin,boss")
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidInput, match="KETAFLOW_REQUIRE_MFA.*'boss'"):
            get_settings()
    finally:
        monkeypatch.delenv("KETAFLOW_REQUIRE_MFA")
        get_settings.cache_clear()


def test_removing_and_resetting_the_second_factor(app: FastAPI, director: Signed) -> None:
    person = new_staff(app, director)
    me = sign_in(app, person.email, person.password)
    secret, _ = _enrol_by_api(me)
    later = datetime.now(UTC) + timedelta(seconds=30)  # the next step: always inside the one-step window
    fresh = me.client.post(
        "/api/account/second-factor/recovery-codes",
        json={"code": totp_now(secret, later)},
        headers=me.headers,
    )
    assert fresh.status_code == 200 and len(fresh.json()["recovery_codes"]) == 10
    wrong = me.client.post(
        "/api/account/second-factor/remove", json={"password": "wrong one"}, headers=me.headers
    )
    assert wrong.status_code == 400
    assert me.client.post(
        "/api/account/second-factor/remove", json={"password": person.password}, headers=me.headers
    ).json() == {"enabled": False}
    _, where = _password_step(app, person)
    assert where == "/clinics"
    # The director takes a lost phone's factor off: the person's sessions end, they sign in with the password.
    me = sign_in(app, person.email, person.password)
    _enrol_by_api(me)
    r = director.client.delete(f"/api/staff/{person.id}/second-factor", headers=director.headers)
    assert r.status_code == 200 and me.client.get("/api/me").status_code == 401
    _, where = _password_step(app, person)
    assert where == "/clinics"


def test_a_half_done_sign_in_lasts_fifteen_minutes(
    app: FastAPI, director: Signed, demo_engine: Engine
) -> None:
    person = new_staff(app, director)
    _enrol_by_api(sign_in(app, person.email, person.password))
    _password_step(app, person)
    with Session(demo_engine) as db:
        pending = db.scalar(
            select(m.WebSession).where(m.WebSession.user_id == person.id, m.WebSession.pending.is_not(None))
        )
        assert pending is not None and pending.expires_at - pending.created_at == timedelta(minutes=15)
