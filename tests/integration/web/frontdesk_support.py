"""Shared pieces of the front-desk tests: a frozen clock, signed-in clients per role, own rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import Sex
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.sign_in_support import post_login

# Logins of the demo network (clinic "aus" and the other demo clinic, "den").
ROLE_LOGINS = {
    "admin": "admin",
    "director": "director1.aus",
    "psychiatrist": "psychiatrist1.aus",
    "nurse": "nurse1.aus",
    "front_desk": "frontdesk1.aus",
    "other_clinic_nurse": "nurse1.den",
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    """One app on the demo database with a frozen clock and a signed-in client per login."""

    engine: Engine
    clock: Clock
    clients: dict[str, TestClient]
    csrf: dict[str, dict[str, str]]
    anonymous: TestClient

    def as_(self, role: str) -> tuple[TestClient, dict[str, str]]:
        return self.clients[role], self.csrf[role]


def sign_in(client: TestClient, login: str) -> dict[str, str]:
    r = post_login(client, f"{login}@demo.ketaflow.org")
    assert r.status_code == 303, r.text
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def open_desk(engine: Engine, now: datetime, roles: tuple[str, ...] = tuple(ROLE_LOGINS)) -> Iterator[Desk]:
    app = create_app(engine)
    frozen = Clock(now)
    app.dependency_overrides[clock] = frozen
    clients: dict[str, TestClient] = {}
    csrf: dict[str, dict[str, str]] = {}
    with TestClient(app) as anonymous:
        for role in roles:
            c = TestClient(app)
            c.__enter__()
            csrf[role] = sign_in(c, ROLE_LOGINS[role])
            clients[role] = c
        try:
            yield Desk(engine, frozen, clients, csrf, anonymous)
        finally:
            for c in clients.values():
                c.__exit__(None, None, None)


def clinic(db: Session, code: str = "aus") -> m.Clinic:
    row = db.scalar(select(m.Clinic).where(m.Clinic.code == code))
    assert row is not None
    return row


def make_patient(
    engine: Engine,
    *,
    given: str | None = None,
    family: str | None = None,
    dob: date = date(1971, 1, 1),
    code: str = "aus",
) -> uuid.UUID:
    """A patient of our own (unique name unless given), committed."""
    tag = uuid.uuid4().hex[:8]
    with Session(engine) as db:
        c = clinic(db, code)
        p = m.Patient(
            organization_id=c.organization_id,
            clinic_id=c.id,
            mrn=f"FD{tag.upper()}",
            given_name=given or f"Fd{tag}",
            family_name=family or f"Deskson{tag}",
            date_of_birth=dob,
            sex=Sex.FEMALE,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        db.add(p)
        db.commit()
        made: uuid.UUID = p.id
        return made


def chairs(engine: Engine, code: str = "aus") -> list[uuid.UUID]:
    with Session(engine) as db:
        c = clinic(db, code)
        return list(
            db.scalars(select(m.Chair.id).where(m.Chair.clinic_id == c.id).order_by(m.Chair.position))
        )


def count(engine: Engine, model: type, **where: object) -> int:
    with Session(engine) as db:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return db.scalar(stmt) or 0
