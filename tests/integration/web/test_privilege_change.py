"""A change of someone's roles is a change of what their session may do (issue 11 item 5: the session
id changes at every privilege change): it ends the person's sessions, and they sign in again to a
new session holding the new roles. Setting the roles a person already holds ends nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.web.app import create_app
from tests.integration.web.accounts_support import Signed, demo, new_staff, sign_in


@pytest.fixture
def app(demo_engine: Engine) -> Iterator[FastAPI]:
    yield create_app(demo_engine)


@pytest.fixture
def director(app: FastAPI) -> Signed:
    return sign_in(app, demo("director1.aus"))


def test_a_role_change_ends_the_persons_sessions(app: FastAPI, director: Signed, demo_engine: Engine) -> None:
    person = new_staff(app, director)
    theirs = sign_in(app, person.email, person.password)
    assert theirs.client.get("/api/me").status_code == 200
    same = director.client.put(
        f"/api/staff/{person.id}/roles/aus", json={"roles": ["nurse"]}, headers=director.headers
    )
    assert same.status_code == 200 and theirs.client.get("/api/me").status_code == 200  # nothing changed
    more = director.client.put(
        f"/api/staff/{person.id}/roles/aus", json={"roles": ["nurse", "front_desk"]}, headers=director.headers
    )
    assert more.status_code == 200, more.text
    assert theirs.client.get("/api/me").status_code == 401  # the old session holds the old privileges
    again = sign_in(app, person.email, person.password)
    me = again.client.get("/api/me").json()
    assert "front_desk" in str(me), me
    with Session(demo_engine) as db:
        event = db.scalars(
            select(m.AuditEvent)
            .where(m.AuditEvent.entity_id == person.id, m.AuditEvent.action == "staff.roles_set")
            .order_by(m.AuditEvent.occurred_at.desc())
        ).first()
    assert event is not None and (event.details or {}).get("sessions_ended") == 1
    fewer = director.client.put(
        f"/api/staff/{person.id}/roles/aus", json={"roles": ["nurse"]}, headers=director.headers
    )
    assert fewer.status_code == 200 and again.client.get("/api/me").status_code == 401
