"""Faults: the server killed with kill -9 in the middle of a burst of writes, and a full disk.

kill -9 (SQLite and PostgreSQL): `ketaflow serve` (one worker process, 127.0.0.1, a free port) on a
copy of the demo test network; several threads chart vital signs on one infusion through the API,
each reading with its own values (systolic and heart rate spell the request's number), and the whole
server is killed once enough writes were acknowledged. Then: every acknowledged reading is in the
database exactly once, no refused one is, an unanswered one (in flight at the kill) is there at most
once; every charted reading has its audit event and no audit event lacks its reading (the two are one
transaction); the database passes its integrity checks; the server starts again and answers /health
and a new reading.

Disk full (SQLite): the database is capped at its current size (`PRAGMA max_page_count` on every
connection the app takes), so the next write that needs a page fails with SQLITE_FULL. The nurse
gets 507 with a sentence saying nothing was saved and what to do, on the API and on the page, never
a 500 or a trace; nothing of the refused reading is kept; once there is room again, charting works.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.store.backup import integrity_problems
from ketaflow.store.engine import make_engine
from ketaflow.store.migrate import head_revision
from ketaflow.store.verify import verify
from ketaflow.web.app import create_app
from tests.integration.cli.backup_support import copy_of, databases_like
from tests.integration.cli.serve_support import start_server
from tests.integration.web.sign_in_support import post_login
from tests.integration.web.test_discharge import make_visit

THREADS = 4
KILL_AFTER = 120  # acknowledged writes before the kill
MOST = 600  # requests at most, should the kill not come
WAIT_S = 60.0  # a bound on waiting for the acknowledgements, not a timing
FULL = "The clinic database is full, so nothing was saved"


def reading(n: int) -> dict[str, Any]:
    """Request n's vital signs: normal values, and (systolic, heart rate) unique to n (n < 1,600)."""
    return {
        "bp": f"{100 + n // 40}/70",
        "heart_rate": 60 + n % 40,
        "spo2": 98,
        "respiratory_rate": 14,
        "sedation": 5,
    }


def number_of(systolic: int, heart_rate: int) -> int:
    return (systolic - 100) * 40 + (heart_rate - 60)


@pytest.fixture
def demo_copy(demo_engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A copy of the demo test network, for this test alone (it is written to and crashed on)."""
    databases = databases_like(demo_engine, tmp_path)
    try:
        yield copy_of(demo_engine, databases, tmp_path)
    finally:
        databases.drop_all()


def an_infusion_running_now(engine: Engine) -> uuid.UUID:
    """A patient seated in clinic 'aus' whose infusion started a quarter of an hour ago (the server
    charts on the real clock)."""
    return make_visit(engine, stopped=False, start=datetime.now(UTC) - timedelta(minutes=25)).session_id


def signed_in_client(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    answer = post_login(client, "nurse1.aus@demo.ketaflow.org")
    assert answer.status_code == 303, answer.text
    client.headers["X-CSRF-Token"] = client.get("/api/me").json()["csrf_token"]
    return client


@dataclass
class Burst:
    """Requests sent by the threads, by request number: acknowledged, refused, or never answered."""

    acknowledged: dict[int, str] = field(default_factory=dict)  # n -> the id the server gave
    refused: dict[int, int] = field(default_factory=dict)  # n -> status
    unanswered: set[int] = field(default_factory=set)
    changed: threading.Condition = field(default_factory=threading.Condition)


def charted(engine: Engine, session_id: uuid.UUID, earlier: set[str]) -> tuple[dict[int, list[str]], int]:
    """The readings charted on the session besides `earlier` ones, by request number (their ids),
    and the session's vitals.create audit events."""
    with Session(engine) as db:
        rows = db.execute(
            select(m.VitalSign.id, m.VitalSign.systolic_mmhg, m.VitalSign.heart_rate_bpm).where(
                m.VitalSign.session_id == session_id
            )
        ).all()
        audits = db.scalar(
            select(func.count())
            .select_from(m.AuditEvent)
            .where(m.AuditEvent.action == "vitals.create", m.AuditEvent.entity_id == session_id)
        )
    by_number: dict[int, list[str]] = {}
    for vid, systolic, heart_rate in rows:
        if str(vid) not in earlier:
            by_number.setdefault(number_of(systolic, heart_rate), []).append(str(vid))
    return by_number, int(audits or 0)


def earlier_readings(engine: Engine, session_id: uuid.UUID) -> set[str]:
    with Session(engine) as db:
        return {
            str(v) for v in db.scalars(select(m.VitalSign.id).where(m.VitalSign.session_id == session_id))
        }


def test_kill_9_in_a_burst_of_writes_loses_nothing_acknowledged_and_half_writes_nothing(
    demo_copy: Engine, tmp_path: Path
) -> None:
    session_id = an_infusion_running_now(demo_copy)
    earlier = earlier_readings(demo_copy, session_id)
    url = demo_copy.url.render_as_string(hide_password=False)
    server = start_server(url, tmp_path / "serve.log")
    try:
        first = signed_in_client(server.url)
        burst = Burst()
        numbers = iter(range(MOST))
        numbers_lock = threading.Lock()

        def chart() -> None:
            with httpx.Client(base_url=server.url, timeout=60, cookies=first.cookies) as client:
                client.headers["X-CSRF-Token"] = first.headers["X-CSRF-Token"]
                while True:
                    with numbers_lock:
                        n = next(numbers, None)
                    if n is None:
                        return
                    try:
                        answer = client.post(f"/api/sessions/{session_id}/vitals", json=reading(n))
                    except httpx.TransportError:  # the server is gone: this one was in flight
                        with burst.changed:
                            burst.unanswered.add(n)
                        return
                    with burst.changed:
                        if answer.is_success:
                            burst.acknowledged[n] = answer.json()["id"]
                        else:
                            burst.refused[n] = answer.status_code
                        burst.changed.notify_all()

        threads = [threading.Thread(target=chart, daemon=True) for _ in range(THREADS)]
        for t in threads:
            t.start()
        with burst.changed:
            enough = burst.changed.wait_for(lambda: len(burst.acknowledged) >= KILL_AFTER, timeout=WAIT_S)
        server.kill_hard()
        for t in threads:
            t.join(timeout=WAIT_S)
        assert enough, (
            f"only {len(burst.acknowledged)} writes were acknowledged: {server.log.read_text()[-2000:]}"
        )
        assert not any(t.is_alive() for t in threads)
    finally:
        server.stop()

    # What the database holds after the crash (a new engine: nothing cached from before).
    after = make_engine(url)
    try:
        found, audits = charted(after, session_id, earlier)
        assert set(found) >= set(burst.acknowledged), "an acknowledged reading is missing"
        for n, vid in burst.acknowledged.items():
            assert found[n] == [vid], n  # there once, with the id the server gave
        assert not set(found) & set(burst.refused), "a refused reading was kept"
        assert set(found) <= set(burst.acknowledged) | burst.unanswered, "a reading nobody sent"
        assert all(len(ids) == 1 for ids in found.values())
        assert audits == len(found), (
            "a reading without its audit event, or an audit event without its reading"
        )
        assert len(burst.unanswered) <= THREADS
        assert integrity_problems(after) == []
        report = verify(after, None)  # the hash chains survived the crash: no fork, no gap
        assert report.intact, report.problems[:5]
    finally:
        after.dispose()

    again = start_server(url, tmp_path / "serve-again.log")
    try:
        health = httpx.get(f"{again.url}/health", timeout=30)
        assert health.status_code == 200 and health.json()["schema"] == head_revision()
        client = signed_in_client(again.url)
        answer = client.post(f"/api/sessions/{session_id}/vitals", json=reading(MOST + 1))
        assert answer.status_code == 200, answer.text
    finally:
        again.stop()
    found, audits = charted(demo_copy, session_id, earlier)
    assert found[MOST + 1] == [answer.json()["id"]] and audits == len(found)


class Cap:
    """Caps the SQLite database at a number of pages on every connection the engine hands out."""

    def __init__(self, engine: Engine) -> None:
        self.pages: int | None = None
        event.listen(engine, "checkout", self._apply)

    def _apply(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        limit = self.pages if self.pages is not None else 1_073_741_823  # SQLite's default cap
        dbapi_connection.execute(f"PRAGMA max_page_count={limit}")


@pytest.mark.parametrize("demo_engine", ["sqlite"], indirect=True)
def test_a_full_disk_gives_a_clear_507_and_keeps_nothing_of_the_refused_write(
    demo_copy: Engine, tmp_path: Path
) -> None:
    session_id = an_infusion_running_now(demo_copy)
    earlier = earlier_readings(demo_copy, session_id)
    engine = make_engine(demo_copy.url.render_as_string(hide_password=False))
    cap = Cap(engine)
    try:
        with TestClient(create_app(engine)) as client:
            assert post_login(client, "nurse1.aus@demo.ketaflow.org").status_code == 303
            csrf = client.get("/api/me").json()["csrf_token"]
            with engine.connect() as conn:
                cap.pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
            acknowledged: dict[int, str] = {}
            refused = None
            for n in range(1000):  # the free room of the last pages fills within a few hundred
                answer = client.post(
                    f"/api/sessions/{session_id}/vitals", json=reading(n), headers={"X-CSRF-Token": csrf}
                )
                if answer.status_code != 200:
                    refused = (n, answer)
                    break
                acknowledged[n] = answer.json()["id"]
            assert refused is not None, "the capped database never filled"
            n_full, answer = refused
            assert answer.status_code == 507, answer.text
            assert answer.json()["error"].startswith(FULL)
            assert "tell your administrator" in answer.json()["error"]

            # The very reading just refused, typed on the form: a smaller one (the form's fields
            # without the respiratory rate, say) can fit the room a refused write leaves, and did once.
            form = {"csrf": csrf, **{k: str(v) for k, v in reading(n_full).items()}}
            page = client.post(f"/sessions/{session_id}/vitals", data=form, follow_redirects=False)
            assert page.status_code == 507
            assert FULL in page.text and "Traceback" not in page.text

            found, audits = charted(engine, session_id, earlier)
            assert {n: ids[0] for n, ids in found.items()} == acknowledged  # the refused one is not there
            assert audits == len(acknowledged)

            cap.pages = None  # room again (the administrator freed space): charting works at once
            answer = client.post(
                f"/api/sessions/{session_id}/vitals", json=reading(n_full), headers={"X-CSRF-Token": csrf}
            )
            assert answer.status_code == 200, answer.text
        found, audits = charted(engine, session_id, earlier)
        assert found[n_full] == [answer.json()["id"]] and audits == len(acknowledged) + 1
        assert integrity_problems(engine) == []
    finally:
        engine.dispose()
