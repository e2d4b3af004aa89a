"""Races over HTTP against the real server: `ketaflow serve` with its default worker processes.

The server runs as its own process (one worker per core, as an operator starts it), on
127.0.0.1 and a free port, on the shared demo test network: a temporary SQLite file, and a
fresh PostgreSQL database. Two requests that must not both win set off together (a
barrier); exactly one wins, the other gets a 409 that says why, and the database holds
exactly one result: its rows and its audit event.

On PostgreSQL the test also holds the row the requests lock, and lets go only once both
requests are seen waiting for it (pg_blocking_pids), so they really overlap inside the
server. On SQLite the workers' waits for the file lock cannot be seen from outside; the
requests only set off together, and BEGIN IMMEDIATE queues them in whichever order they come.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ketaflow.cli.system import default_workers
from ketaflow.services import booking
from ketaflow.store import models as m
from tests.integration.races import race
from tests.integration.web.demo_support import staff
from tests.integration.web.frontdesk_support import chairs, make_patient
from tests.integration.web.sign_in_support import post_login
from tests.integration.web.test_discharge import READY, counts, make_visit

KETAFLOW = Path(sys.executable).parent / "ketaflow"
START_TIMEOUT_S = 60.0  # a bound on start-up (workers import the app), not a timing
BOOKING_NOW = datetime.now(UTC)  # the served app books on the real clock too
AUSTIN = ZoneInfo("America/Chicago")


def open_weekday(weekday: int) -> date:
    """A day about nine weeks ahead on `weekday` (0 = Monday), inside every booking horizon and away
    from the demo clinics' holiday closures (Thanksgiving week, 20 December to 3 January)."""
    day = BOOKING_NOW.date() + timedelta(days=63)
    while day.weekday() != weekday or not (1, 3) < (day.month, day.day) < (11, 20):
        day += timedelta(days=1)
    return day


def at_austin(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=AUSTIN).astimezone(UTC)


@dataclass
class Served:
    url: str
    engine: Engine
    output: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(demo_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`ketaflow serve` on the demo test database, with the default number of workers."""
    port = _free_port()
    output = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KETAFLOW_")}
    env["KETAFLOW_DATA_DIR"] = str(output.parent)
    database_url = demo_engine.url.render_as_string(hide_password=False)
    command = [
        str(KETAFLOW),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database-url",
        database_url,
    ]
    with output.open("w") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"ketaflow serve stopped: {output.read_text()}"
            try:
                if httpx.get(f"{url}/api/me", timeout=5).status_code == 401:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"ketaflow serve did not answer: {output.read_text()}"
            time.sleep(0.1)  # a bounded wait for the server to listen, not an ordering of threads
        yield Served(url, demo_engine, output)
    finally:
        proc.send_signal(signal.SIGINT)  # the supervisor stops its workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the process group this fixture started
            proc.wait(timeout=30)
        with demo_engine.begin() as conn:
            conn.execute(delete(m.SignInAttempt))
            conn.execute(delete(m.SignInThrottle))


def signed_in(served: Served, login: str) -> httpx.Client:
    """A client of the server signed in as a demo login, sending its CSRF token with each change."""
    client = httpx.Client(base_url=served.url, timeout=60)
    r = post_login(client, f"{login}@demo.ketaflow.org")
    assert r.status_code == 303, r.text
    client.headers["X-CSRF-Token"] = client.get("/api/me").json()["csrf_token"]
    return client


def held(served: Served, model: Any, row_id: uuid.UUID) -> Any:
    """The row lock the racing requests need, held by the test on PostgreSQL (None on SQLite)."""
    if served.engine.dialect.name != "postgresql":
        return None
    return select(model.id).where(model.id == row_id).with_for_update()


def both(
    served: Served, row_lock: Any, *requests: tuple[httpx.Client, str, dict[str, Any]]
) -> list[httpx.Response]:
    """Send the POST requests at once (behind the held lock, if any); their responses in order."""
    answers: list[httpx.Response | None] = [None] * len(requests)

    def sender(i: int) -> Callable[[], None]:
        client, path, body = requests[i]

        def send() -> None:
            answers[i] = client.post(path, json=body)

        return send

    race(served.engine, row_lock, *(sender(i) for i in range(len(requests))))
    done = [a for a in answers if a is not None]
    assert len(done) == len(requests)
    return done


def one_won(responses: list[httpx.Response], won: int, words: str) -> None:
    codes = sorted(r.status_code for r in responses)
    assert codes == [won, 409], [(r.status_code, r.text) for r in responses]
    refused = next(r for r in responses if r.status_code == 409)
    assert words in refused.json()["error"], refused.text


def audits(engine: Engine, action: str, entity_ids: list[uuid.UUID]) -> int:
    with Session(engine) as db:
        return (
            db.scalar(
                select(func.count())
                .select_from(m.AuditEvent)
                .where(m.AuditEvent.action == action, m.AuditEvent.entity_id.in_(entity_ids))
            )
            or 0
        )


def test_the_server_runs_the_default_worker_processes(served: Served) -> None:
    workers = default_workers()
    plural = "es" if workers > 1 else ""
    assert f"with {workers} worker process{plural}" in served.output.read_text()


def test_two_bookings_of_one_chair_at_once_only_one_is_made(served: Served) -> None:
    chair = chairs(served.engine)[5]
    patients = [make_patient(served.engine), make_patient(served.engine)]
    desks = [signed_in(served, "frontdesk1.aus"), signed_in(served, "admin")]
    day = open_weekday(0)
    slot = {"kind": "infusion", "day": day.isoformat(), "start": "08:00", "chair_id": str(chair)}
    responses = both(
        served,
        held(served, m.Chair, chair),
        *(
            (desk, f"/api/patients/{pid}/appointments", slot)
            for desk, pid in zip(desks, patients, strict=True)
        ),
    )
    one_won(responses, 201, "is already booked")
    with Session(served.engine) as db:
        made = db.scalars(select(m.Appointment).where(m.Appointment.patient_id.in_(patients))).all()
    assert len(made) == 1 and made[0].chair_id == chair
    assert made[0].starts_at == at_austin(day, 8)
    assert str(made[0].id) == next(r.json()["id"] for r in responses if r.status_code == 201)
    assert audits(served.engine, "appointment.book", [made[0].id]) == 1


def test_two_reschedules_into_one_slot_at_once_only_one_moves(served: Served) -> None:
    chair_ids = chairs(served.engine)
    target = chair_ids[6]
    who = staff(served.engine, "frontdesk1.aus")
    booked: list[m.Appointment] = []
    for i in range(2):
        with Session(served.engine, expire_on_commit=False) as db:
            booked.append(
                booking.book(
                    db,
                    who,
                    make_patient(served.engine),
                    kind="infusion",
                    day=open_weekday(1),
                    start="08:00",
                    chair_id=chair_ids[i],
                    now=BOOKING_NOW,
                )
            )
    ids = [a.id for a in booked]
    move_day = open_weekday(2)
    move = {"version": 1, "day": move_day.isoformat(), "start": "09:00", "chair_id": str(target)}
    desks = [signed_in(served, "frontdesk1.aus"), signed_in(served, "admin")]
    responses = both(
        served,
        held(served, m.Chair, target),
        *((desk, f"/api/appointments/{a}/reschedule", move) for desk, a in zip(desks, ids, strict=True)),
    )
    one_won(responses, 200, "is already booked")
    with Session(served.engine) as db:
        rows = {a.id: a for a in db.scalars(select(m.Appointment).where(m.Appointment.id.in_(ids)))}
    moved = [a for a in rows.values() if a.chair_id == target]
    assert len(moved) == 1 and moved[0].version == 2
    assert moved[0].starts_at == at_austin(move_day, 9)
    stayed = next(a for a in rows.values() if a.id != moved[0].id)
    original = next(a for a in booked if a.id == stayed.id)
    assert (stayed.version, stayed.chair_id, stayed.starts_at) == (1, original.chair_id, original.starts_at)
    assert audits(served.engine, "appointment.reschedule", ids) == 1


def test_two_discharges_of_one_patient_at_once_only_one_is_charted(served: Served) -> None:
    # The server runs on the real clock: the infusion stopped 130 minutes ago (at least 120 needed).
    visit = make_visit(served.engine, start=datetime.now(UTC) - timedelta(hours=3))
    nurses = [signed_in(served, "nurse1.aus"), signed_in(served, "psychiatrist1.aus")]
    path = f"/api/sessions/{visit.session_id}/discharge"
    responses = both(
        served, held(served, m.InfusionSession, visit.session_id), *((n, path, READY) for n in nurses)
    )
    one_won(responses, 200, "already been discharged")
    assert counts(served.engine, visit) == (1, "completed", 2)
    assert audits(served.engine, "session.discharge", [visit.session_id]) == 1
