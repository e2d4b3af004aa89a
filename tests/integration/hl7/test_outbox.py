"""The outbox (services/hl7_outbox.py) and its sender (workers/hl7_sender.py) with a real MLLP server
in the test on loopback: messages delivered in order per patient, none lost across a destination
outage and a restart of the sender, a refused one kept with its reason. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.interop.hl7.outbound import PatientIdentity, adt, ras
from ketaflow.services import hl7_outbox as outbox
from ketaflow.store import models as m
from ketaflow.workers.hl7_sender import Hl7Sender
from tests import in_own_loop
from tests.integration.hl7.conftest import T0, seat_patient

WAIT_S = 10.0


class Destination:
    """An MLLP peer that records each message's control id and answers AA (or AR for `refuse`)."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.received: list[str] = []
        self.refuse = refuse or set()
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._talk, "127.0.0.1", port)
        return int(self.server.sockets[0].getsockname()[1])

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                frame = await reader.readuntil(b"\x1c\r")
                control = frame[1:].decode().split("\r", 1)[0].split("|")[9]
                self.received.append(control)
                code = "AR" if control in self.refuse else "AA"
                err = (
                    "\rERR||MSH^1^10|207^Application internal error^HL70357|E||||no such visit"
                    if code == "AR"
                    else ""
                )
                msh = f"MSH|^~\\&|PEER||KETAFLOW||20261125||ACK^A01^ACK|A{control}|P|2.5.1"
                ack = f"{msh}\rMSA|{code}|{control}{err}"
                writer.write(b"\x0b" + ack.encode() + b"\x1c\r")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def queue_visit(engine: Engine, patient_id: object, clinic_id: object, mrn: str, now: object) -> list[str]:
    """A04, RAS^O17 and A03 for one patient, enqueued in one transaction; their control ids."""
    who = PatientIdentity(mrn, "Rivera", "Alex", date(1980, 5, 17), "female")
    ids = [outbox.new_control_id() for _ in range(3)]
    texts = [
        ("ADT^A04", adt("A04", who, at=T0, control_id=ids[0], facility="c")),
        (
            "RAS^O17",
            ras(
                who,
                at=T0,
                control_id=ids[1],
                facility="c",
                order_id="O1",
                started_at=T0,
                ended_at=T0 + timedelta(minutes=40),
                given_mg=35,
            ),
        ),
        (
            "ADT^A03",
            adt("A03", who, at=T0, control_id=ids[2], facility="c", discharged_at=T0 + timedelta(hours=2)),
        ),
    ]
    with Session(engine) as db:
        for (kind, text), control in zip(texts, ids, strict=True):
            outbox.enqueue(
                db,
                clinic_id=clinic_id,
                patient_id=patient_id,
                kind=kind,
                control_id=control,
                message=text,
                now=now,
            )  # type: ignore[arg-type]
        db.commit()
    return ids


def test_in_order_through_an_outage_and_a_restart(hl7_engine: Engine) -> None:
    a, b = seat_patient(hl7_engine), seat_patient(hl7_engine)
    clock = [T0 + timedelta(hours=3)]
    first = queue_visit(hl7_engine, a.patient_id, a.clinic_id, a.mrn, clock[0])
    second = queue_visit(hl7_engine, b.patient_id, b.clinic_id, b.mrn, clock[0] + timedelta(seconds=1))

    async def scenario() -> list[str]:
        peer = Destination(refuse={second[1]})
        port = await peer.start()
        await peer.stop()  # the destination is down
        sender = Hl7Sender(hl7_engine, "127.0.0.1", port, timeout_s=2, clock=lambda: clock[0])
        assert await sender.round() == 0
        assert await sender.round() == 0  # backing off: not even tried again yet
        await sender.close()
        with Session(hl7_engine) as db:
            row = db.scalars(select(m.Hl7Outbox).where(m.Hl7Outbox.control_id == first[0])).one()
            assert row.attempts == 1 and row.acked_at is None and "Error" in (row.last_error or "")
        # the destination comes back on the same port, ketaflow's sender restarts, time passes
        await peer.start(port)
        clock[0] += timedelta(seconds=3)
        restarted = Hl7Sender(hl7_engine, "127.0.0.1", port, timeout_s=2, clock=lambda: clock[0])
        for _ in range(10):
            await asyncio.wait_for(restarted.round(), WAIT_S)
            with Session(hl7_engine) as db:
                if not outbox.due(db, clock[0]):
                    break
        await restarted.close()
        await peer.stop()
        return peer.received

    received = in_own_loop.run(scenario())
    mine = [c for c in received if c in first + second]
    assert [c for c in mine if c in first] == first  # in order per patient
    assert [c for c in mine if c in second] == second  # the refused one does not hold the rest back
    assert len(mine) == 6  # each delivered once
    with Session(hl7_engine) as db:
        rows = {
            r.control_id: r
            for r in db.scalars(select(m.Hl7Outbox).where(m.Hl7Outbox.control_id.in_(first + second)))
        }
    assert all(r.acked_at is not None for r in rows.values())
    refused = rows[second[1]]
    assert (refused.refused, refused.ack_code, refused.last_error) == (True, "AR", "no such visit")
    assert {rows[c].ack_code for c in first} == {"AA"}
