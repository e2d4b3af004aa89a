"""TOTP secrets at rest (issue 11 item 3): the database holds them sealed (AES-GCM) under a key kept
outside it, so a copy of the database (a backup, a dump, a stolen disk) gives nobody the codes.
With another key the second factor cannot be checked: the person is told so, plainly, and
re-enrols once a director or the administrator takes the old one off. Rotating keys (new key
first, old one after it) keeps every phone working and reseals each secret at its next use."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

from ketaflow.settings import get_settings
from ketaflow.web.app import create_app
from tests.integration.web.accounts_support import NewStaff, Signed, demo, new_staff, sign_in, totp_now
from tests.integration.web.sign_in_support import post_login


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


KEY_A, KEY_B = new_key(), new_key()


@pytest.fixture
def use_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    def use(value: str) -> None:
        monkeypatch.setenv("KETAFLOW_SECRET_KEY", value)
        get_settings.cache_clear()

    use(KEY_A)
    yield use
    monkeypatch.delenv("KETAFLOW_SECRET_KEY")
    get_settings.cache_clear()


@pytest.fixture
def app(demo_engine: Engine) -> Iterator[FastAPI]:
    yield create_app(demo_engine)


@pytest.fixture
def director(app: FastAPI) -> Signed:
    return sign_in(app, demo("director1.aus"))


def _enrol(me: Signed) -> str:
    secret = me.client.post("/api/account/second-factor/start", headers=me.headers).json()["secret"]
    done = me.client.post(
        "/api/account/second-factor/confirm", json={"code": totp_now(secret)}, headers=me.headers
    )
    assert done.status_code == 200, done.text
    return str(secret)


def _stored_row(engine: Engine, person: NewStaff) -> dict[str, object]:
    key = person.id.hex if engine.dialect.name == "sqlite" else person.id
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM staff_users WHERE id = :id"), {"id": key}).one()
    return dict(row._mapping)


def _second_step(app: FastAPI, person: NewStaff, code: str) -> tuple[int, str]:
    from fastapi.testclient import TestClient

    client = TestClient(app)
    r = post_login(client, person.email, person.password)
    assert r.status_code == 303 and r.headers["location"] == "/login/code", r.headers.get("location")
    page = client.get("/login/code").text
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    done = client.post("/login/code", data={"csrf": csrf, "code": code}, follow_redirects=False)
    return done.status_code, done.headers.get("location") or done.text


def test_the_database_holds_no_totp_secret_in_the_clear(
    app: FastAPI, director: Signed, demo_engine: Engine, use_key: object
) -> None:
    person = new_staff(app, director)
    secret = _enrol(sign_in(app, person.email, person.password))
    raw = base64.b32decode(secret)
    forms = {secret, secret.lower(), raw.hex(), base64.b64encode(raw).decode()}
    row = _stored_row(demo_engine, person)
    texts = [str(v) for v in row.values() if v is not None]
    assert not [(f, t) for f in forms for t in texts if f in t], "the secret is stored readable"
    sealed = [t for t in texts if t.startswith("k1.")]
    assert len(sealed) == 1 and len(sealed[0]) <= 200


def test_with_another_key_the_person_is_told_and_re_enrols(
    app: FastAPI, director: Signed, use_key: object
) -> None:
    person = new_staff(app, director)
    secret = _enrol(sign_in(app, person.email, person.password))
    use_key(KEY_B)  # type: ignore[operator]  # the key was lost and a new one made
    status, said = _second_step(app, person, totp_now(secret, datetime.now(UTC) + timedelta(seconds=30)))
    assert status == 409 and "cannot be checked" in said and "administrator" in said, (status, said[:400])
    # The director takes the unreadable factor off; the person signs in with the password, enrols anew.
    r = director.client.delete(f"/api/staff/{person.id}/second-factor", headers=director.headers)
    assert r.status_code == 200, r.text
    again = _enrol(sign_in(app, person.email, person.password))
    assert again != secret
    status, where = _second_step(app, person, totp_now(again, datetime.now(UTC) + timedelta(seconds=30)))
    assert (status, where) == (303, "/clinics")


def test_a_rotated_key_keeps_the_phone_working_and_reseals_at_next_use(
    app: FastAPI, director: Signed, demo_engine: Engine, use_key: object
) -> None:
    person = new_staff(app, director)
    secret = _enrol(sign_in(app, person.email, person.password))
    before = [v for v in _stored_row(demo_engine, person).values() if str(v).startswith("k1.")]
    use_key(f"{KEY_B},{KEY_A}")  # type: ignore[operator]  # the new key seals, the old one still opens
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert _second_step(app, person, totp_now(secret, later)) == (303, "/clinics")
    after = [v for v in _stored_row(demo_engine, person).values() if str(v).startswith("k1.")]
    assert before and after and str(after[0]).split(".")[1] != str(before[0]).split(".")[1]
    use_key(KEY_B)  # type: ignore[operator]  # the old key is retired: the resealed secret still opens
    with demo_engine.begin() as conn:  # forget the step just used, so the same code counts once more
        key = person.id.hex if demo_engine.dialect.name == "sqlite" else person.id
        conn.execute(text("UPDATE staff_users SET mfa_last_step = NULL WHERE id = :id"), {"id": key})
    status, where = _second_step(app, person, totp_now(secret, later))
    assert (status, where) == (303, "/clinics")
