"""Staff accounts (issue 11 item 4): create, roles, switch off/on, password change and reset links."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.accounts_support import Signed, demo, new_staff, sign_in
from tests.integration.web.sign_in_support import post_login


@pytest.fixture
def app(demo_engine: Engine) -> Iterator[FastAPI]:
    yield create_app(demo_engine)


@pytest.fixture
def director(app: FastAPI) -> Signed:
    return sign_in(app, demo("director1.aus"))


@pytest.fixture
def admin(app: FastAPI) -> Signed:
    return sign_in(app, demo("admin"))


def test_a_new_account_sets_its_own_password_through_a_one_time_link(app: FastAPI, director: Signed) -> None:
    person = new_staff(app, director, roles=("nurse", "front_desk"))
    me = sign_in(app, person.email, person.password)
    roles = me.client.get("/api/me").json()["roles"]
    assert sorted(next(iter(roles.values()))) == ["front_desk", "nurse"]
    listed = director.client.get("/api/staff").json()["staff"]
    assert any(s["email"] == person.email and s["active"] for s in listed)


def test_a_link_works_once_and_only_while_fresh(app: FastAPI, director: Signed, demo_engine: Engine) -> None:
    person = new_staff(app, director)
    r = director.client.post(f"/api/staff/{person.id}/reset-link", headers=director.headers)
    assert r.status_code == 200 and r.json()["valid_minutes"] == 60
    path = r.json()["url"].removeprefix("http://testserver")
    late = create_app(demo_engine)
    late.dependency_overrides[clock] = lambda: datetime.now(UTC) + timedelta(minutes=61)
    with TestClient(late) as c:
        assert c.get(path).status_code == 410
        assert (
            c.post(
                path, data={"new_password": "a b c d e f g h", "confirm_password": "a b c d e f g h"}
            ).status_code
            == 410
        )
    with TestClient(app) as c:
        assert c.get(path).status_code == 200
        weak = c.post(path, data={"new_password": "qwerty123456", "confirm_password": "qwerty123456"})
        assert weak.status_code == 400 and "common or leaked" in weak.text
        ok = c.post(
            path,
            data={"new_password": "winter harbour 19 kites", "confirm_password": "winter harbour 19 kites"},
        )
        assert ok.status_code == 200
        again = c.post(
            path,
            data={"new_password": "another 27 harbour kites", "confirm_password": "another 27 harbour kites"},
        )
        assert again.status_code == 410 and "used already" in again.text
    sign_in(app, person.email, "winter harbour 19 kites")
    with Session(demo_engine) as db:
        row = db.scalar(
            select(m.PasswordResetToken)
            .where(m.PasswordResetToken.user_id == person.id)
            .order_by(m.PasswordResetToken.created_at.desc())
        )
        assert row is not None and len(row.token_sha256) == 64 and row.token_sha256 not in path


def test_a_new_link_spends_the_one_before(app: FastAPI, director: Signed) -> None:
    person = new_staff(app, director)
    first = director.client.post(f"/api/staff/{person.id}/reset-link", headers=director.headers).json()["url"]
    director.client.post(f"/api/staff/{person.id}/reset-link", headers=director.headers)
    with TestClient(app) as c:
        assert c.get(first.removeprefix("http://testserver")).status_code == 410


def test_switching_an_account_off_ends_its_sessions_and_on_again_does_not_revive_them(
    app: FastAPI, director: Signed
) -> None:
    person = new_staff(app, director)
    one, two = sign_in(app, person.email, person.password), sign_in(app, person.email, person.password)
    r = director.client.post(f"/api/staff/{person.id}/deactivate", headers=director.headers)
    assert r.status_code == 200 and r.json()["active"] is False
    assert one.client.get("/api/me").status_code == 401 and two.client.get("/api/me").status_code == 401
    refused = post_login(TestClient(app), person.email, person.password)
    assert refused.status_code in (400, 429)
    assert director.client.post(f"/api/staff/{person.id}/reactivate", headers=director.headers).json()[
        "active"
    ]
    assert one.client.get("/api/me").status_code == 401, "a reactivated account's old sessions stay ended"
    sign_in(app, person.email, person.password)


def test_changing_ones_password_ends_every_other_session_and_keeps_this_one(
    app: FastAPI, director: Signed
) -> None:
    person = new_staff(app, director)
    here, elsewhere = sign_in(app, person.email, person.password), sign_in(app, person.email, person.password)
    wrong = here.client.post(
        "/api/account/password",
        json={"current_password": "not it at all", "new_password": "x"},
        headers=here.headers,
    )
    assert wrong.status_code == 400 and "current password" in wrong.json()["error"]
    short = here.client.post(
        "/api/account/password",
        json={"current_password": person.password, "new_password": "short one"},
        headers=here.headers,
    )
    assert short.status_code == 400 and "at least 12" in short.json()["error"]
    r = here.client.post(
        "/api/account/password",
        json={"current_password": person.password, "new_password": "granite meadow 88 swifts"},
        headers=here.headers,
    )
    assert r.status_code == 200 and r.json()["changed"]
    assert here.client.get("/api/me").status_code == 200, "this browser got a new session"
    assert here.client.get("/api/me").json()["csrf_token"] == r.json()["csrf_token"]
    assert elsewhere.client.get("/api/me").status_code == 401
    sign_in(app, person.email, "granite meadow 88 swifts")
    old = post_login(TestClient(app), person.email, person.password)
    assert old.status_code == 400


def test_the_password_page_changes_the_password(app: FastAPI, director: Signed) -> None:
    person = new_staff(app, director)
    me = sign_in(app, person.email, person.password)
    page = me.client.get("/account")
    assert page.status_code == 200 and "Change password" in page.text
    csrf = me.headers["X-CSRF-Token"]
    differ = me.client.post(
        "/account/password",
        data={
            "csrf": csrf,
            "current_password": person.password,
            "new_password": "granite meadow 88 swifts",
            "confirm_password": "x",
        },
    )
    assert differ.status_code == 400 and "differ" in differ.text
    done = me.client.post(
        "/account/password",
        data={
            "csrf": csrf,
            "current_password": person.password,
            "new_password": "granite meadow 88 swifts",
            "confirm_password": "granite meadow 88 swifts",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/account?changed=1"
    assert "password is changed" in me.client.get("/account?changed=1").text


def test_a_director_manages_only_their_clinic_and_never_grants_admin(
    app: FastAPI, director: Signed, admin: Signed
) -> None:
    person = new_staff(app, director)
    h = director.headers
    grant_admin = director.client.put(
        f"/api/staff/{person.id}/roles/aus", json={"roles": ["admin"]}, headers=h
    )
    assert grant_admin.status_code == 403 and "administrator" in grant_admin.json()["error"]
    other_clinic = director.client.put(
        f"/api/staff/{person.id}/roles/den", json={"roles": ["nurse"]}, headers=h
    )
    assert other_clinic.status_code == 403
    create_elsewhere = director.client.post(
        "/api/staff",
        json={"email": "x-den@demo.ketaflow.org", "full_name": "X", "clinic": "den", "roles": ["nurse"]},
        headers=h,
    )
    assert create_elsewhere.status_code == 403
    ok = director.client.put(f"/api/staff/{person.id}/roles/aus", json={"roles": ["psychiatrist"]}, headers=h)
    assert ok.status_code == 200 and list(ok.json()["roles"].values()) == [["psychiatrist"]]
    # Once the person also works at Denver (the administrator gives it), the Austin director
    # no longer manages them.
    assert (
        admin.client.put(
            f"/api/staff/{person.id}/roles/den", json={"roles": ["nurse"]}, headers=admin.headers
        ).status_code
        == 200
    )
    assert director.client.post(f"/api/staff/{person.id}/deactivate", headers=h).status_code == 403
    assert director.client.post(f"/api/staff/{person.id}/reset-link", headers=h).status_code == 403


def test_nobody_changes_their_own_roles_or_switches_themselves_off(
    app: FastAPI, director: Signed, admin: Signed
) -> None:
    me = director.client.get("/api/staff").json()["staff"]
    my_id = next(s["id"] for s in me if s["email"] == demo("director1.aus"))
    r = director.client.put(
        f"/api/staff/{my_id}/roles/aus",
        json={"roles": ["director", "psychiatrist"]},
        headers=director.headers,
    )
    assert r.status_code == 403 and "own roles" in r.json()["error"]
    admin_id = next(
        s["id"] for s in admin.client.get("/api/staff").json()["staff"] if s["email"] == demo("admin")
    )
    assert admin.client.post(f"/api/staff/{admin_id}/deactivate", headers=admin.headers).status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"email": "not-an-address", "full_name": "A B", "clinic": "aus", "roles": ["nurse"]}, 400, "e-mail"),
        (
            {"email": "ok@demo.ketaflow.org", "full_name": " ", "clinic": "aus", "roles": ["nurse"]},
            400,
            "full name",
        ),
        (
            {"email": "ok@demo.ketaflow.org", "full_name": "A B", "clinic": "aus", "roles": []},
            400,
            "at least one role",
        ),
        (
            {"email": "ok@demo.ketaflow.org", "full_name": "A B", "clinic": "aus", "roles": ["boss"]},
            400,
            "not a role",
        ),
        (
            {"email": "ok@demo.ketaflow.org", "full_name": "A B", "clinic": "nowhere", "roles": ["nurse"]},
            404,
            "no clinic",
        ),
        (
            {
                "email": "nurse1.aus@demo.ketaflow.org",
                "full_name": "A B",
                "clinic": "aus",
                "roles": ["nurse"],
            },
            409,
            "already",
        ),
    ],
)
def test_bad_new_accounts_are_refused_with_a_sentence_and_nothing_is_kept(
    director: Signed, demo_engine: Engine, body: dict[str, object], status: int, says: str
) -> None:
    with Session(demo_engine) as db:
        before = db.scalar(select(func.count()).select_from(m.StaffUser))
    r = director.client.post("/api/staff", json=body, headers=director.headers)
    assert r.status_code == status and says in r.json()["error"], r.text
    with Session(demo_engine) as db:
        assert db.scalar(select(func.count()).select_from(m.StaffUser)) == before


def test_staff_pages_create_an_account_and_show_its_link_once(app: FastAPI, director: Signed) -> None:
    page = director.client.get("/staff")
    assert page.status_code == 200 and "New staff account" in page.text
    made = director.client.post(
        "/staff",
        data={
            "csrf": director.headers["X-CSRF-Token"],
            "full_name": "Page Made",
            "email": "page-made@demo.ketaflow.org",
            "clinic": "aus",
            "roles": ["nurse"],
        },
    )
    assert made.status_code == 200 and "/reset/" in made.text and "shown only this once" in made.text
    assert "/reset/" not in director.client.get("/staff").text


def test_every_change_is_audited_with_who_did_it(app: FastAPI, director: Signed, demo_engine: Engine) -> None:
    person = new_staff(app, director)
    director.client.post(f"/api/staff/{person.id}/deactivate", headers=director.headers)
    with Session(demo_engine) as db:
        actions = {
            (e.action, e.actor_label)
            for e in db.scalars(select(m.AuditEvent).where(m.AuditEvent.entity_id == person.id))
        }
    who = demo("director1.aus")
    assert {
        ("staff.create", who),
        ("staff.first_password_link_issued", who),
        ("staff.deactivate", who),
    } <= actions
    assert ("staff.password_reset", person.email) in actions


def test_a_front_desk_user_cannot_open_the_staff_pages(app: FastAPI) -> None:
    desk = sign_in(app, demo("frontdesk1.aus"))
    assert desk.client.get("/staff").status_code == 403
    assert desk.client.get("/api/staff").status_code == 403
    assert "Staff</a>" not in desk.client.get("/account").text


def test_someone_with_no_role_left_is_the_administrators(
    app: FastAPI, director: Signed, admin: Signed
) -> None:
    person = new_staff(app, director)
    r = director.client.put(f"/api/staff/{person.id}/roles/aus", json={"roles": []}, headers=director.headers)
    assert r.status_code == 200 and r.json()["roles"] == {}
    assert person.email not in {s["email"] for s in director.client.get("/api/staff").json()["staff"]}
    assert director.client.get(f"/api/staff/{person.id}").status_code == 403
    listed = {s["email"]: s for s in admin.client.get("/api/staff").json()["staff"]}
    assert listed[person.email]["roles"] == {} and listed[person.email]["may_manage"] is True
    assert admin.client.post(f"/api/staff/{person.id}/deactivate", headers=admin.headers).status_code == 200
