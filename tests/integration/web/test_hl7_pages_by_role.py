"""Who may open the HL7 pages (monitors, messages not charted, messages out) and act on them: the
administrator only (permissions: MANAGE_MONITORS); every other role gets a 403 page with the reason,
and nothing is written. Registering a monitor, a refused registration, a replay that still cannot
chart, and the outbox's state, attempts and last error, on the demo network (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ketaflow.services import hl7_outbox
from ketaflow.services.monitor_feed import receive
from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.hl7_messages import obs, oru, ts
from tests.integration.web.test_discharge import sign_in

# Pages only (not in the API document), so not a `test_roles_*` module: those cover the JSON API.
PAGES = ("/hl7/monitors", "/hl7/dead-letters", "/hl7/outbox")
NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
ROLES = [
    ("admin", True),
    ("director1.aus", False),
    ("psychiatrist1.aus", False),
    ("nurse1.aus", False),
    ("frontdesk1.aus", False),
    ("nurse1.den", False),
]
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(demo_engine)
    app.dependency_overrides[clock] = lambda: NOW
    tag = uuid.uuid4().hex[:10].upper()
    with TestClient(app) as c:
        c.tag = tag  # type: ignore[attr-defined]
        yield c
    with demo_engine.begin() as conn:
        conn.execute(delete(m.Monitor).where(m.Monitor.device_id.like(f"%{tag}")))
        conn.execute(delete(m.Hl7DeadLetter).where(m.Hl7DeadLetter.control_id.like(f"%{tag}")))
        conn.execute(delete(m.Hl7Outbox).where(m.Hl7Outbox.control_id.like(f"%{tag}")))
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


def monitors(engine: Engine, tag: str) -> int:
    with engine.connect() as conn:
        return (
            conn.scalar(
                select(func.count()).select_from(m.Monitor).where(m.Monitor.device_id.like(f"%{tag}"))
            )
            or 0
        )


@pytest.mark.parametrize(("login", "admin"), ROLES)
def test_only_the_administrator_opens_and_uses_the_hl7_pages(
    client: TestClient, demo_engine: Engine, login: str, admin: bool
) -> None:
    tag: str = client.tag  # type: ignore[attr-defined]
    sign_in(client, login)
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == (200 if admin else 403), (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html")
        if not admin:
            assert "Only an administrator" in r.text
    home = client.get("/account").text
    assert ('href="/hl7/monitors"' in home) is admin
    csrf = CSRF.findall(client.get("/account").text)[0]
    form = {"csrf": csrf, "clinic": "aus", "chair": "Chair 1", "label": "", "device_id": f"EUI{tag}"}
    r = client.post("/hl7/monitors", data=form, follow_redirects=False)
    assert r.status_code == (303 if admin else 403), r.text[:300]
    assert monitors(demo_engine, tag) == (1 if admin else 0)
    if admin:
        listed = client.get("/hl7/monitors").text
        assert f"EUI{tag}" in listed and "The monitor is registered" in client.get(r.headers["location"]).text
        # the same device id again, and neither id nor location: the page again, 400, with the sentence
        again = client.post("/hl7/monitors", data=form)
        assert again.status_code == 400  # the page again, with the sentence
        assert "already registered" in again.text
        bare = client.post("/hl7/monitors", data={**form, "device_id": ""})
        assert bare.status_code == 400 and "device id" in bare.text and "location" in bare.text
        assert monitors(demo_engine, tag) == 1


def test_a_dead_letter_is_shown_with_its_reason_and_replayed_by_the_administrator(
    client: TestClient, demo_engine: Engine
) -> None:
    tag: str = client.tag  # type: ignore[attr-defined]
    at = ts(NOW - timedelta(minutes=5))
    text = oru(
        [obs("heart_rate", 80, at), obs("spo2", 97, at)], device=f"NOBODY{tag}", control_id=f"DL-{tag}"
    )
    with Session(demo_engine) as db:
        assert receive(db, text, peer="10.0.0.9:4000", now=NOW).ack_code == "AR"
    with Session(demo_engine) as db:
        letter = db.scalars(select(m.Hl7DeadLetter).where(m.Hl7DeadLetter.control_id == f"DL-{tag}")).one()
    sign_in(client, "nurse1.aus")
    csrf = CSRF.findall(client.get("/account").text)[0]
    refused = client.post(f"/hl7/dead-letters/{letter.id}/replay", data={"csrf": csrf})
    assert refused.status_code == 403
    sign_in(client, "admin")
    page = client.get("/hl7/dead-letters").text
    assert f"DL-{tag}" in page and f"No monitor is registered with device id NOBODY{tag}" in page
    assert f'action="/hl7/dead-letters/{letter.id}/replay"' in page
    csrf = CSRF.findall(page)[0]
    # the monitor is still unknown: replayed, refused again with the reason, kept with one more attempt
    again = client.post(f"/hl7/dead-letters/{letter.id}/replay", data={"csrf": csrf})
    assert again.status_code == 409 and "Still not charted (AR)" in again.text
    with Session(demo_engine) as db:
        kept = db.get(m.Hl7DeadLetter, letter.id)
        assert kept is not None and kept.attempts == 2 and kept.resolved_at is None
    # without the form's token: refused before anything runs
    assert client.post(f"/hl7/dead-letters/{letter.id}/replay", data={}).status_code == 403
    assert client.post(f"/hl7/dead-letters/{uuid.uuid4()}/replay", data={"csrf": csrf}).status_code == 404


def test_the_outbox_page_shows_state_attempts_and_last_error(client: TestClient, demo_engine: Engine) -> None:
    tag: str = client.tag  # type: ignore[attr-defined]
    with Session(demo_engine) as db:
        patient = db.scalars(
            select(m.Patient).join(m.Clinic, m.Clinic.id == m.Patient.clinic_id).where(m.Clinic.code == "aus")
        ).first()
        assert patient is not None
        hl7_outbox.enqueue(
            db,
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            kind="ADT^A08",
            control_id=f"OB-{tag}",
            message="MSH|^~\\&|KETAFLOW",
            now=NOW,
        )
        db.commit()
        row = db.scalars(select(m.Hl7Outbox).where(m.Hl7Outbox.control_id == f"OB-{tag}")).one()
        hl7_outbox.failed(db, row.id, "connection refused by 10.0.0.5:2575", NOW)
        db.commit()
    sign_in(client, "admin")
    page = client.get("/hl7/outbox").text
    (line,) = [tr for tr in page.split("<tr>") if f"OB-{tag}" in tr]
    assert "ADT^A08" in line and "waiting" in line and "connection refused by 10.0.0.5:2575" in line
    assert "<td>1</td>" in line
