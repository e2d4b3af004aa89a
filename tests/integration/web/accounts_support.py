"""Shared pieces of the staff-account tests: sign in, make a fresh staff member, TOTP codes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ketaflow.demo.catalog import DEMO_PASSWORD
from tests.integration.web.sign_in_support import post_login

NEW_PASSWORD = "tide lantern orchard 42"


@dataclass
class Signed:
    client: TestClient
    headers: dict[str, str]


def sign_in(app: FastAPI, email: str, password: str = DEMO_PASSWORD) -> Signed:
    client = TestClient(app)
    r = post_login(client, email, password)
    assert r.status_code == 303 and r.headers["location"] == "/clinics", (email, r.status_code, r.text[:300])
    return Signed(client, {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]})


def demo(login: str) -> str:
    return f"{login}@demo.ketaflow.org"


@dataclass
class NewStaff:
    id: uuid.UUID
    email: str
    password: str


def new_staff(
    app: FastAPI,
    manager: Signed,
    *,
    clinic: str = "aus",
    roles: tuple[str, ...] = ("nurse",),
    email: str | None = None,
    full_name: str = "Test Staffmember",
) -> NewStaff:
    """A new account made through the API by `manager`, its password set through its link (the
    e-mail address is the one stored, which may be a normalised form of `email`)."""
    email = email or f"staff-{uuid.uuid4().hex[:10]}@demo.ketaflow.org"
    r = manager.client.post(
        "/api/staff",
        json={"email": email, "full_name": full_name, "clinic": clinic, "roles": list(roles)},
        headers=manager.headers,
    )
    assert r.status_code == 201, r.text
    email = r.json()["email"]
    link = r.json()["url"].removeprefix("http://testserver")
    with TestClient(app) as anyone:
        done = anyone.post(link, data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
        assert done.status_code == 200 and "Password set" in done.text, done.text[:500]
    return NewStaff(uuid.UUID(r.json()["user_id"]), email, NEW_PASSWORD)


def totp_now(secret: str, at: datetime | None = None) -> str:
    return pyotp.TOTP(secret).at(at or datetime.now(UTC))
