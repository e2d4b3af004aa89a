"""The monitor simulator (`ketaflow hl7 simulate`, and `ketaflow demo --monitors`): realistic
readings (ORU^R01 over MLLP) for the patients in a clinic's chairs, as their bedside monitors
would send them (signals: ketaflow.demo.monitor_signals), to a listener.

`demo_monitors` is what `ketaflow demo --monitors` adds: a monitor registered in every chair of
every clinic that has none yet (audited as the operator's), an MLLP listener on a loopback port,
and a simulator per clinic sending to it, all in one background thread next to the web server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.audit_codes import OPERATOR_ROLE
from ketaflow.demo.monitor_signals import ChairSignal, PumpSpan
from ketaflow.interop.hl7.build import build_oru
from ketaflow.services.audit import Actor, cli_origin, record
from ketaflow.services.monitors import SeatedMonitor, seated_monitors
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.store.models import utcnow


def _actor(command: str) -> Actor:
    origin = cli_origin(command)
    return Actor(None, f"cli:{command}", origin.ip_address, origin.user_agent, roles=OPERATOR_ROLE)


async def simulate_clinic(
    engine: Engine,
    clinic: str,
    *,
    chairs: int,
    interval_s: float,
    host: str,
    port: int,
    seconds: float | None,
    seed: int,
    say: Callable[[str], None],
    clock: Callable[[], datetime] = utcnow,
    command: str = "hl7 simulate",
) -> None:
    """Every `interval_s`, one reading per seated chair (at most `chairs`) of `clinic`, each sent and
    its ACK awaited; a listener that is down is retried each round. Stops after `seconds` (None:
    until cancelled). A clinic that does not exist raises NotFound."""
    actor = _actor(command)
    signals: dict[Any, ChairSignal] = {}

    def targets() -> list[SeatedMonitor]:
        with Session(engine, expire_on_commit=False) as db:
            return seated_monitors(db, actor, clinic, clock())[:chairs]

    loop = asyncio.get_running_loop()
    ends = None if seconds is None else loop.time() + seconds

    def remaining() -> float:
        return float("inf") if ends is None else ends - loop.time()

    counts: dict[str, int] = {}
    sent = 0
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    while remaining() > 0:
        tick = loop.time()
        seated = await asyncio.to_thread(targets)
        if reader is None or writer is None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as exc:
                say(f"Cannot reach the listener at {host}:{port} ({exc.strerror}); trying again.")
        if reader is not None and writer is not None:
            artefacts = 0
            for target in seated:
                signal = signals.setdefault(target.session_id, ChairSignal(str(target.session_id), seed))
                now = clock()
                values, artefact = signal.reading(
                    PumpSpan(target.started_at, target.minutes, target.stopped_at), now
                )
                artefacts += artefact
                sent += 1
                text = build_oru(
                    values,
                    observed_at=now,
                    control_id=f"SIM{seed}-{int(now.timestamp())}-{sent}",
                    device_id=target.device_id or "",
                    location=target.location or "",
                    mrn=target.mrn,
                    patient_name=(target.family_name, target.given_name),
                )
                try:
                    writer.write(b"\x0b" + text.encode() + b"\x1c\r")
                    await writer.drain()
                    ack = await asyncio.wait_for(reader.readuntil(b"\x1c\r"), 10)
                except (OSError, asyncio.IncompleteReadError, TimeoutError):
                    say("The listener went away; reconnecting.")
                    writer = reader = None
                    break
                code = next((s.split("|")[1] for s in ack.decode().split("\r") if s.startswith("MSA|")), "?")
                counts[code] = counts.get(code, 0) + 1
            say(
                f"{clinic}: {len(seated)} chairs; sent {sent} ("
                + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                + f"); {artefacts} artefacts this round"
            )
        wait = min(interval_s - (loop.time() - tick), remaining())
        if wait > 0:
            await asyncio.sleep(wait)
    if writer is not None:
        writer.close()


def register_demo_monitors(engine: Engine, now: datetime) -> int:
    """A monitor in every chair of every clinic that has none in service, known by the device id
    DEMO-<CLINIC>-<chair position>; returns how many were registered (audited as the operator's)."""
    actor = _actor("demo --monitors")
    added = 0
    with Session(engine) as db:
        begin_write(db)
        for clinic in db.scalars(select(m.Clinic).order_by(m.Clinic.code)):
            in_service = select(m.Monitor.id).where(
                m.Monitor.clinic_id == clinic.id, m.Monitor.active.is_(True)
            )
            if db.scalar(in_service.limit(1)) is not None:
                continue
            for chair in sorted(clinic.chairs, key=lambda c: (c.position, c.label)):
                monitor = m.Monitor(
                    clinic_id=clinic.id,
                    chair_id=chair.id,
                    device_id=f"DEMO-{clinic.code.upper()}-{chair.position + 1:02d}",
                    label=f"{chair.label} monitor"[:80],
                    created_at=now,
                )
                db.add(monitor)
                db.flush()
                record(
                    db,
                    actor,
                    "monitor.create",
                    "monitor",
                    monitor.id,
                    clinic_id=clinic.id,
                    details={"chair": chair.label, "device_id": monitor.device_id, "location": None},
                )
                added += 1
        db.commit()
    return added


class Running:
    """The demo monitors' background thread; `stop` ends it (the listener closed, the senders stopped)."""

    def __init__(
        self, thread: threading.Thread, loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]
    ) -> None:
        self.thread, self._loop, self._task = thread, loop, task

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(timeout)


def demo_monitors(engine: Engine, *, port: int, interval_s: float, say: Callable[[str], None]) -> Running:
    """Start, in a background thread, an MLLP listener on 127.0.0.1:`port` and a simulator for every
    clinic sending to it (monitors registered first where a clinic has none)."""
    from ketaflow.workers.mllp_listener import MllpListener

    added = register_demo_monitors(engine, utcnow())
    if added:
        say(f"Registered {added} demo monitors (one per chair, device ids DEMO-<CLINIC>-<chair>).")
    with Session(engine) as db:
        codes = list(db.scalars(select(m.Clinic.code).order_by(m.Clinic.code)))
    ready = threading.Event()
    problem: list[BaseException] = []
    started: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[None]]] = []

    async def run() -> None:
        current = asyncio.current_task()
        assert current is not None
        started.append((asyncio.get_running_loop(), current))
        listener = MllpListener(engine, "127.0.0.1", port)
        try:
            await listener.start()
        except OSError as exc:
            problem.append(exc)
            ready.set()
            return
        ready.set()
        quiet: Callable[[str], None] = lambda line: None if "chairs; sent" in line else say(line)  # noqa: E731
        try:
            await asyncio.gather(
                listener.serve_forever(),
                *(
                    simulate_clinic(
                        engine,
                        code,
                        chairs=64,
                        interval_s=interval_s,
                        host="127.0.0.1",
                        port=port,
                        seconds=None,
                        seed=i,
                        say=quiet,
                        command="demo --monitors",
                    )
                    for i, code in enumerate(codes)
                ),
            )
        finally:
            await listener.close()

    def main() -> None:
        try:
            asyncio.run(run())
        except asyncio.CancelledError:  # stopped
            pass

    thread = threading.Thread(target=main, name="ketaflow-demo-monitors", daemon=True)
    thread.start()
    ready.wait(30)
    if problem:
        raise OSError(f"Cannot listen for the demo monitors on 127.0.0.1:{port}: {problem[0]}")
    say(
        f"Demo monitors: the listener is on 127.0.0.1:{port} and each clinic's seated chairs send a "
        f"reading every {interval_s:g} s."
    )
    loop, task = started[0]
    return Running(thread, loop, task)
