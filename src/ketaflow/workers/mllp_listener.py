"""The MLLP listener (`ketaflow hl7 listen`): bedside monitors and their gateways connect over TCP
and send HL7 v2 messages framed by MLLP (0x0B message 0x1C 0x0D, HL7 v2.5.1 appendix C); each
message is charted by `services.monitor_feed.receive` and answered with its ACK on the same
connection, in order.

python-hl7's asyncio MLLP streams do the framing. Nothing a peer sends stops the listener: a
frame that is not an MLLP block, a frame over the size limit, text that is not HL7 and a peer
that goes quiet are dropped (counted, logged) and the connection or the next frame carries on;
a failure while charting one message is answered with an AR (HL7 error 207) and logged, and the
next message is read. The database work runs in worker threads, one message at a time per
connection, so a slow write never holds up the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hl7.mllp import start_hl7_server
from hl7.mllp.streams import CARRIAGE_RETURN, END_BLOCK, START_BLOCK, HL7StreamReader, HL7StreamWriter
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.interop.hl7.ack import build_ack
from ketaflow.interop.hl7.oru import APPLICATION_ERROR, Refusal, read_header
from ketaflow.services.monitor_feed import MESSAGE_MAX_CHARS, receive
from ketaflow.store.models import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListenerLimits:
    max_message_bytes: int = MESSAGE_MAX_CHARS  # a frame larger than this is dropped
    idle_timeout_s: float = 300.0  # a connection that sends nothing for this long is closed
    max_connections: int = 64  # more at once wait for one to close


def decode(block: bytes) -> str:
    """A frame as text: UTF-8 (which covers ASCII, HL7's default), else Latin-1 (ISO 8859-1,
    which monitors set in MSH-18 as 8859/1); never fails."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("latin-1")


class MllpListener:
    """One listening socket; `start` binds it (port 0: any free port), `close` stops it."""

    def __init__(
        self,
        engine: Engine,
        host: str,
        port: int,
        *,
        limits: ListenerLimits = ListenerLimits(),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.host, self.port = host, port
        self.limits = limits
        self.clock = clock
        self.counts: Counter[str] = Counter()  # AA, AE, AR, duplicate, garbage, too_large, idle, failed
        self._server: asyncio.Server | None = None
        self._slots = asyncio.Semaphore(limits.max_connections)

    async def start(self) -> tuple[str, int]:
        self._server = await start_hl7_server(
            self._connection, self.host, self.port, limit=self.limits.max_message_bytes
        )
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])
        return str(sock[0]), self.port

    async def serve_forever(self) -> None:
        assert self._server is not None, "start() first"
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _connection(self, reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "")
        async with self._slots:
            try:
                await self._talk(reader, writer, peer_text)
            finally:
                writer.close()
                try:
                    await writer.wait_closed()
                except (ConnectionError, OSError):
                    pass

    async def _talk(self, reader: HL7StreamReader, writer: HL7StreamWriter, peer: str) -> None:
        while True:
            try:
                block = await asyncio.wait_for(self._frame(reader, peer), self.limits.idle_timeout_s)
            except TimeoutError:
                self.counts["idle"] += 1
                return
            except asyncio.IncompleteReadError as exc:  # the peer closed (mid-frame: dropped)
                if exc.partial.strip():
                    self.counts["garbage"] += 1
                return
            except (ConnectionError, OSError):
                return
            if block is None:
                continue
            ack = await asyncio.to_thread(self._answer, decode(block), peer)
            if ack is None:
                continue
            writer.writeblock(ack.encode("utf-8"))
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                return

    async def _frame(self, reader: HL7StreamReader, peer: str) -> bytes | None:
        """The next frame's message, or None for bytes dropped (over the size limit, or no frame
        start). Bytes before a frame's start block are dropped and the frame is kept, so a peer
        that sent garbage and then a message still gets its ACK."""
        try:
            chunk = bytes(await reader.readuntil(END_BLOCK + CARRIAGE_RETURN))
        except asyncio.LimitOverrunError as exc:  # no frame end within the limit: drop what came
            await reader.readexactly(max(exc.consumed, 1))
            self.counts["too_large"] += 1
            log.warning(
                "MLLP: dropped over %d bytes with no frame end from %s", self.limits.max_message_bytes, peer
            )
            return None
        start = chunk.rfind(START_BLOCK)
        if start != 0:
            self.counts["garbage"] += 1
            log.warning(
                "MLLP: dropped %d bytes that were not in an MLLP frame from %s",
                max(start, 0) or len(chunk),
                peer,
            )
        if start < 0:
            return None
        return chunk[start + 1 : -2]

    def _answer(self, text: str, peer: str) -> str | None:
        """The ACK for one message (None: not HL7, nothing to answer). Runs in a worker thread."""
        now = self.clock()
        try:
            with Session(self.engine, expire_on_commit=False) as db:
                outcome = receive(db, text, peer=peer, now=now)
        except Exception:  # the database is down, say: answer AR so the sender keeps the message
            log.exception("MLLP: could not chart a message from %s", peer)
            self.counts["failed"] += 1
            try:
                header = read_header(text)
            except Refusal:
                return None
            return build_ack(
                header,
                "AR",
                at=now,
                reason="ketaflow could not store this message just now; send it again.",
                error_code=APPLICATION_ERROR,
            )
        if outcome.header is None:
            self.counts["garbage"] += 1
            return None
        self.counts["duplicate" if outcome.duplicate else outcome.ack_code] += 1
        return outcome.ack(now)
