"""Every role against the staff-account and own-account endpoints (issue 11): the administrator and
the director manage their clinic's staff; everyone manages their own password and second factor.

Demo accounts are never changed here (other tests sign in with them): the staff endpoints act on a
fresh account made for each test, and the own-account calls are sent with a wrong password or code,
which every signed-in role may try (400) and a stranger may not (401)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.integration.web.roles import ROLES, Caller, callers

COVERS = {
    ("GET", "/api/staff"),
    ("POST", "/api/staff"),
    ("GET", "/api/staff/{user_id}"),
    ("PUT", "/api/staff/{user_id}/roles/{code}"),
    ("POST", "/api/staff/{user_id}/deactivate"),
    ("POST", "/api/staff/{user_id}/reactivate"),
    ("POST", "/api/staff/{user_id}/reset-link"),
    ("DELETE", "/api/staff/{user_id}/second-factor"),
    ("POST", "/api/account/password"),
    ("GET", "/api/account/second-factor"),
    ("POST", "/api/account/second-factor/start"),
    ("POST", "/api/account/second-factor/confirm"),
    ("POST", "/api/account/second-factor/recovery-codes"),
    ("POST", "/api/account/second-factor/remove"),
}
NOW = datetime.now(UTC)  # sessions and links are real-clock things
LABELS = list(ROLES)
MANAGERS = {"admin", "director"}  # permissions.MANAGE_STAFF


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


def _fresh(who: dict[str, Caller]) -> uuid.UUID:
    admin = who["admin"]
    r = admin.client.post(
        "/api/staff",
        json={
            "email": f"role-{uuid.uuid4().hex[:10]}@demo.ketaflow.org",
            "full_name": "Role Matrix",
            "clinic": "aus",
            "roles": ["nurse"],
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["user_id"])


# (method, path with {id}, body, status for a manager)
STAFF_CALLS: list[tuple[str, str, dict[str, Any] | None, int]] = [
    ("GET", "/api/staff", None, 200),
    ("POST", "/api/staff", {"full_name": "New Person", "clinic": "aus", "roles": ["nurse"]}, 201),
    ("GET", "/api/staff/{id}", None, 200),
    ("PUT", "/api/staff/{id}/roles/aus", {"roles": ["nurse", "front_desk"]}, 200),
    ("POST", "/api/staff/{id}/deactivate", None, 200),
    ("POST", "/api/staff/{id}/reactivate", None, 200),
    ("POST", "/api/staff/{id}/reset-link", None, 200),
    ("DELETE", "/api/staff/{id}/second-factor", None, 200),
]


def _send(
    caller: Caller, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> Any:
    if body is not None and "full_name" in body:
        body = {**body, "email": f"new-{uuid.uuid4().hex[:10]}@demo.ketaflow.org"}
    r = caller.client.request(method, path, json=body, headers=headers)
    assert "Traceback" not in r.text
    if r.status_code >= 400:
        assert r.json()["error"], "every refusal says why"
    return r


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize(("method", "path", "body", "ok"), STAFF_CALLS)
def test_staff_accounts_are_for_the_administrator_and_the_director(
    who: dict[str, Caller], label: str, method: str, path: str, body: dict[str, Any] | None, ok: int
) -> None:
    target = _fresh(who)
    caller = who[label]
    r = _send(caller, method, path.format(id=target), body, caller.headers)
    want = 401 if label == "anonymous" else ok if label in MANAGERS else 403
    assert r.status_code == want, (label, r.text)


@pytest.mark.parametrize("label", sorted(MANAGERS))
@pytest.mark.parametrize(("method", "path", "body", "ok"), [c for c in STAFF_CALLS if c[0] != "GET"])
def test_staff_changes_without_the_csrf_header_are_refused(
    who: dict[str, Caller], label: str, method: str, path: str, body: dict[str, Any] | None, ok: int
) -> None:
    target = _fresh(who)
    r = _send(who[label], method, path.format(id=target), body, {})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]


def test_unknown_and_malformed_staff_ids(who: dict[str, Caller]) -> None:
    admin = who["admin"]
    assert _send(admin, "GET", f"/api/staff/{uuid.uuid4()}", None, admin.headers).status_code == 404
    assert _send(admin, "GET", "/api/staff/not-a-uuid", None, admin.headers).status_code == 422


# (method, path, body, status for any signed-in staff member): wrong password or code, nothing changes.
OWN_CALLS: list[tuple[str, str, dict[str, Any] | None, int]] = [
    ("GET", "/api/account/second-factor", None, 200),
    ("POST", "/api/account/password", {"current_password": "not the password", "new_password": "x"}, 400),
    ("POST", "/api/account/second-factor/confirm", {"code": "abc"}, 409),
    ("POST", "/api/account/second-factor/recovery-codes", {"code": "abc"}, 409),
    ("POST", "/api/account/second-factor/remove", {"password": "not the password"}, 400),
]


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize(("method", "path", "body", "ok"), OWN_CALLS)
def test_everyone_manages_their_own_account_and_strangers_nothing(
    who: dict[str, Caller], label: str, method: str, path: str, body: dict[str, Any] | None, ok: int
) -> None:
    caller = who[label]
    r = _send(caller, method, path, body, caller.headers)
    assert r.status_code == (401 if label == "anonymous" else ok), (label, r.text)


@pytest.mark.parametrize("label", LABELS)
def test_everyone_may_start_setting_up_a_second_factor(who: dict[str, Caller], label: str) -> None:
    caller = who[label]
    r = _send(caller, "POST", "/api/account/second-factor/start", None, caller.headers)
    if label == "anonymous":
        assert r.status_code == 401
        return
    # Starting only makes a secret to scan; it counts after a first right code, so sign-in is unchanged.
    assert r.status_code == 200 and len(r.json()["secret"]) == 32
    assert _send(caller, "GET", "/api/account/second-factor", None, {}).json()["enabled"] is False


@pytest.mark.parametrize(("method", "path", "body", "ok"), [c for c in OWN_CALLS if c[0] == "POST"])
def test_own_account_changes_without_the_csrf_header_are_refused(
    who: dict[str, Caller], method: str, path: str, body: dict[str, Any] | None, ok: int
) -> None:
    r = _send(who["nurse"], method, path, body, {})
    assert r.status_code == 403
