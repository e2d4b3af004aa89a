"""The MLLP listener with a real MLLP client over loopback (127.0.0.1, a free port, every wait
bounded): each message answered with its ACK and control id, in order; bad and unknown messages
refused with a reason and kept; duplicates charted once; garbage and oversized frames dropped
without stopping the listener. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.workers.mllp_listener import ListenerLimits, MllpListener
from tests import in_own_loop
from tests.hl7_messages import obs, oru, ts
from tests.integration.hl7.conftest import START, Chairside

VT, FS_CR = b"\x0b", b"\x1c\r"
WAIT_S = 10.0  # no single wait in these tests may take longer
NOW = START + timedelta(minutes=30)


class Client:
    """A monitor's side of one MLLP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, text: str) -> None:
        self.writer.write(VT + text.encode() + FS_CR)
        await self.writer.drain()

    async def raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def ack(self) -> list[list[str]]:
        """The next ACK, as segments of fields."""
        frame = await asyncio.wait_for(self.reader.readuntil(FS_CR), WAIT_S)
        assert frame.startswith(VT)
        return [seg.split("|") for seg in frame[1:-2].decode().split("\r")]

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def run_with_listener(
    engine: Engine,
    scenario: Callable[[MllpListener, Callable[[], Awaitable[Client]]], Awaitable[None]],
    **limits: float,
) -> MllpListener:
    async def main() -> MllpListener:
        listener = MllpListener(
            engine,
            "127.0.0.1",
            0,
            limits=ListenerLimits(**limits),
            clock=lambda: NOW,  # type: ignore[arg-type]
        )
        host, port = await listener.start()
        assert host == "127.0.0.1"

        async def connect() -> Client:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), WAIT_S)
            return Client(reader, writer)

        try:
            await asyncio.wait_for(scenario(listener, connect), 60)
        finally:
            await listener.close()
        return listener

    return in_own_loop.run(main())


def reading(
    side: Chairside, minutes: float, hr: object = 72, control_id: str | None = None, device: str | None = None
) -> str:
    at = ts(START + timedelta(minutes=minutes))
    return oru(
        [obs("systolic", 130, at), obs("diastolic", 84, at), obs("heart_rate", hr, at), obs("spo2", 97, at)],
        device=device or side.device,
        control_id=control_id,
    )


def msa(ack: list[list[str]]) -> tuple[str, str]:
    (seg,) = [s for s in ack if s[0] == "MSA"]
    return seg[1], seg[2]


def test_each_message_gets_its_ack_in_order_and_good_ones_are_charted_before_it(chairside: Chairside) -> None:
    good1, bad, unknown, good2 = (
        reading(chairside, 1, control_id=f"G1-{chairside.device}"),
        reading(chairside, 2, hr="abc", control_id=f"B-{chairside.device}"),
        reading(chairside, 3, control_id=f"U-{chairside.device}", device="NOBODY"),
        reading(chairside, 4, control_id=f"G2-{chairside.device}"),
    )

    async def scenario(listener: MllpListener, connect: Callable[[], Awaitable[Client]]) -> None:
        client = await connect()
        for text in (good1, bad, unknown, good2):
            await client.send(text)
        acks = [await client.ack() for _ in range(4)]
        assert [msa(a) for a in acks] == [
            ("AA", f"G1-{chairside.device}"),
            ("AE", f"B-{chairside.device}"),
            ("AR", f"U-{chairside.device}"),
            ("AA", f"G2-{chairside.device}"),
        ]
        # the reason is in MSA-3 and in ERR-8 (v2.5.1)
        assert "not a number" in acks[1][1][3]
        (err,) = [s for s in acks[1] if s[0] == "ERR"]
        assert "not a number" in err[8] and err[2] == "OBX^3^5"
        assert "No monitor is registered" in [s for s in acks[2] if s[0] == "ERR"][0][8]
        await client.close()

    run_with_listener(chairside.engine, scenario)
    assert [r.heart_rate_bpm for r in chairside.vitals()] == [72, 72]
    with Session(chairside.engine) as db:
        kept = {
            d.control_id: d.ack_code
            for d in db.scalars(
                select(m.Hl7DeadLetter).where(m.Hl7DeadLetter.control_id.like(f"%{chairside.device}"))
            )
        }
    assert kept == {f"B-{chairside.device}": "AE", f"U-{chairside.device}": "AR"}
    assert len(kept) == 2


def test_garbage_and_oversized_frames_are_dropped_and_the_listener_carries_on(chairside: Chairside) -> None:
    async def scenario(listener: MllpListener, connect: Callable[[], Awaitable[Client]]) -> None:
        client = await connect()
        await client.raw(b"\x00\xff junk with no frame at all" + FS_CR)  # no start block
        await client.raw(b"noise before a frame " + VT + reading(chairside, 5).encode() + FS_CR)
        await client.send("this is framed but not HL7")  # nothing to acknowledge
        await client.send("X" * 5000)  # over the limit below
        await client.send(reading(chairside, 6))
        first, second = await client.ack(), await client.ack()
        assert msa(first)[0] == msa(second)[0] == "AA"
        await client.raw(b"half a frame " + VT + b"MSH|^~\\&|")  # and hang up mid-frame
        await client.close()
        rude = await connect()
        await rude.raw(bytes(range(256)) * 4)
        await rude.close()
        again = await connect()  # the listener still answers
        await again.send(reading(chairside, 7))
        assert msa(await again.ack())[0] == "AA"
        await again.close()

    listener = run_with_listener(chairside.engine, scenario, max_message_bytes=4000)
    assert len(chairside.vitals()) == 3
    assert listener.counts["AA"] == 3
    assert listener.counts["garbage"] >= 3 and listener.counts["too_large"] >= 1


def test_the_same_message_on_two_connections_is_charted_once(chairside: Chairside) -> None:
    text = reading(chairside, 8)

    async def scenario(listener: MllpListener, connect: Callable[[], Awaitable[Client]]) -> None:
        a, b = await connect(), await connect()
        await a.send(text)
        await b.send(text)
        acks = await asyncio.gather(a.ack(), b.ack())
        assert {msa(x)[0] for x in acks} == {"AA"}
        await a.close()
        await b.close()

    listener = run_with_listener(chairside.engine, scenario)
    assert len(chairside.vitals()) == 1
    assert (listener.counts["AA"], listener.counts["duplicate"]) == (1, 1)


def test_an_idle_connection_is_closed(chairside: Chairside) -> None:
    async def scenario(listener: MllpListener, connect: Callable[[], Awaitable[Client]]) -> None:
        client = await connect()
        assert await asyncio.wait_for(client.reader.read(), WAIT_S) == b""  # closed by the listener
        await client.close()

    listener = run_with_listener(chairside.engine, scenario, idle_timeout_s=0.2)
    assert listener.counts["idle"] == 1
