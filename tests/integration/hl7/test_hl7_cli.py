"""`ketaflow hl7 ...` as an administrator uses it: register a monitor, see a refused message and
replay it; and `ketaflow hl7 listen` as its own process, answering a monitor over loopback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.store import models as m
from ketaflow.store.models import utcnow
from ketaflow.vocabulary import VitalPhase, VitalSource
from tests import in_own_loop
from tests.hl7_messages import obs, oru, ts
from tests.integration.hl7.conftest import START, seat_patient

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[3]


def run(engine: Engine, *args: str) -> tuple[int, str]:
    # In a thread of its own: `hl7 listen`/`simulate` run an event loop, and a browser test earlier
    # on this worker leaves Playwright's loop running in the main thread.
    url = engine.url.render_as_string(hide_password=False)
    result = in_own_loop.call(runner.invoke, app, [*args, "--database-url", url])
    return result.exit_code, result.output


def email_of(engine: Engine, user_id: object) -> str:
    with Session(engine) as db:
        user = db.get(m.StaffUser, user_id)
        assert user is not None
        return user.email


def test_register_list_see_and_replay(hl7_engine: Engine) -> None:
    side = seat_patient(hl7_engine, with_monitor=False)
    admin, nurse = email_of(hl7_engine, side.admin_id), email_of(hl7_engine, side.nurse_id)
    device = f"CLI{side.device}"
    at = ts(START + timedelta(minutes=3))
    text = oru([obs("spo2", 96, at), obs("heart_rate", 80, at)], device=device)
    with Session(hl7_engine) as db:
        from ketaflow.services.monitor_feed import receive

        refused = receive(db, text, peer="127.0.0.1:1", now=START + timedelta(minutes=5))
    assert refused.ack_code == "AR"

    code, out = run(hl7_engine, "hl7", "dead-letters", "--as", nurse)
    assert code == 2 and "Only an administrator" in out
    code, out = run(hl7_engine, "hl7", "dead-letters", "--as", admin, "--json")
    assert code == 0, out
    (letter,) = [d for d in json.loads(out) if d["id"] == str(refused.dead_letter_id)]
    assert letter["ack"] == "AR" and "No monitor is registered" in letter["reason"]

    code, out = run(
        hl7_engine,
        "hl7",
        "monitors",
        "add",
        side.clinic_code,
        "Chair 9",
        "--as",
        admin,
        "--device-id",
        device,
    )
    assert code == 2 and "has no chair 'Chair 9'" in out
    code, out = run(hl7_engine, "hl7", "monitors", "add", side.clinic_code, "Chair 3", "--as", admin)
    assert code == 2 and "device id" in out
    code, out = run(
        hl7_engine,
        "hl7",
        "monitors",
        "add",
        side.clinic_code,
        "Chair 3",
        "--as",
        admin,
        "--device-id",
        device,
    )
    assert code == 0 and "Registered" in out, out
    code, out = run(hl7_engine, "hl7", "monitors", "list", side.clinic_code, "--as", admin, "--json")
    assert [(d["chair"], d["device_id"]) for d in json.loads(out) if d["active"]] == [("Chair 3", device)]

    code, out = run(hl7_engine, "hl7", "replay", str(refused.dead_letter_id), "--as", admin)
    assert code == 0 and "Charted 1 readings." in out, out
    (row,) = side.vitals()
    assert (row.spo2_percent, row.heart_rate_bpm) == (96, 80)
    code, out = run(hl7_engine, "hl7", "replay", str(refused.dead_letter_id), "--as", admin)
    assert code == 2 and "already resolved" in out


@contextmanager
def listener_process(engine: Engine, seconds: int = 30) -> Iterator[int]:
    """`ketaflow hl7 listen` in its own process on a free loopback port; yields the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    command = ["hl7", "listen", "--port", str(port), "--seconds", str(seconds), "--database-url", url]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ketaflow", *command], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the listener says where it listens once it does
        assert re.search(rf"Listening for HL7 v2 over MLLP on 127\.0\.0\.1:{port}", line), line
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_listen_runs_as_its_own_process_and_answers(hl7_engine: Engine) -> None:
    side = seat_patient(hl7_engine)
    with listener_process(hl7_engine) as port:
        at = ts(START + timedelta(minutes=9))
        text = oru([obs("spo2", 95, at), obs("respiratory_rate", 12, at)], device=side.device)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"\x0b" + text.encode() + b"\x1c\r")
            got = b""
            deadline = time.monotonic() + 10
            while not got.endswith(b"\x1c\r") and time.monotonic() < deadline:
                got += conn.recv(4096)
        assert b"\rMSA|AA|" in got
    with Session(hl7_engine) as db:
        rows = list(db.scalars(select(m.VitalSign).where(m.VitalSign.session_id == side.session_id)))
    assert [(r.spo2_percent, r.respiratory_rate_per_min) for r in rows] == [(95, 12)]


def test_simulate_fills_the_chairs_with_monitor_readings(hl7_engine: Engine) -> None:
    side = seat_patient(hl7_engine, at=utcnow() - timedelta(minutes=20))
    with listener_process(hl7_engine) as port:
        code, out = run(
            hl7_engine,
            "hl7",
            "simulate",
            "--clinic",
            side.clinic_code,
            "--interval-s",
            "0.5",
            "--seconds",
            "1.6",
            "--to",
            f"127.0.0.1:{port}",
        )
    assert code == 0, out
    assert "1 chairs; sent" in out
    rows = side.vitals()
    assert 2 <= len(rows) <= 5
    assert {r.source for r in rows} == {VitalSource.MONITOR} and {r.phase for r in rows} == {
        VitalPhase.INFUSION
    }
    assert all(r.systolic_mmhg and r.diastolic_mmhg and r.diastolic_mmhg < r.systolic_mmhg for r in rows)


def test_the_administrator_sees_the_outbox(hl7_engine: Engine) -> None:
    from ketaflow.services import hl7_outbox

    side = seat_patient(hl7_engine)
    admin, nurse = email_of(hl7_engine, side.admin_id), email_of(hl7_engine, side.nurse_id)
    control = hl7_outbox.new_control_id()
    with Session(hl7_engine) as db:
        hl7_outbox.enqueue(
            db,
            clinic_id=side.clinic_id,
            patient_id=side.patient_id,
            kind="ADT^A04",
            control_id=control,
            message="MSH|^~\\&|KETAFLOW",
            now=START,
        )
        db.commit()
    code, out = run(hl7_engine, "hl7", "outbox", "--as", nurse)
    assert code == 2 and "Only an administrator" in out
    code, out = run(hl7_engine, "hl7", "outbox", "--as", admin, "--json")
    assert code == 0, out
    (row,) = [d for d in json.loads(out) if d["control_id"] == control]
    assert (row["kind"], row["attempts"], row["acked_at"]) == ("ADT^A04", 0, None)
    code, out = run(hl7_engine, "hl7", "outbox", "--as", admin)
    assert f"ADT^A04  #{control}  waiting, 0 attempts" in out


def test_send_needs_a_destination(hl7_engine: Engine) -> None:
    code, out = run(hl7_engine, "hl7", "send")
    assert code == 2 and "--to HOST:PORT, or set KETAFLOW_HL7_DESTINATION" in out
    code, out = run(hl7_engine, "hl7", "send", "--to", "nowhere")
    assert code == 2 and "must be HOST:PORT" in out


def test_the_demo_monitors_register_and_chart_the_seated_chairs(hl7_engine: Engine) -> None:
    """`ketaflow demo --monitors`: a monitor registered in the chair (none was), a listener on its
    port and the clinic's simulator sending to it; the seated patient's readings are charted."""
    from ketaflow.workers.monitor_simulator import demo_monitors, register_demo_monitors

    side = seat_patient(hl7_engine, with_monitor=False, at=utcnow() - timedelta(minutes=20))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    said: list[str] = []
    running = demo_monitors(hl7_engine, port=port, interval_s=1.0, say=said.append)
    try:
        deadline = time.monotonic() + 20
        while len(side.vitals()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        running.stop()
    assert not running.thread.is_alive()
    in_service = select(m.Monitor).where(m.Monitor.clinic_id == side.clinic_id, m.Monitor.active.is_(True))
    with Session(hl7_engine) as db:
        registered = db.scalars(in_service).all()
        chairs = db.scalars(select(m.Chair).where(m.Chair.clinic_id == side.clinic_id)).all()
    assert len(registered) == len(chairs)
    assert all((r.device_id or "").startswith(f"DEMO-{side.clinic_code.upper()}-") for r in registered)
    (monitor,) = [r for r in registered if r.chair_id == side.chair_id]
    rows = side.vitals()
    assert len(rows) >= 2 and {r.monitor_id for r in rows} == {monitor.id}
    assert {r.source for r in rows} == {VitalSource.MONITOR}
    assert any("listener is on 127.0.0.1" in line for line in said)
    # run again: the clinic has its monitors, none is added there
    register_demo_monitors(hl7_engine, utcnow())
    with Session(hl7_engine) as db:
        assert len(db.scalars(in_service).all()) == len(registered)
