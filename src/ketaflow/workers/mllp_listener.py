"""The MLLP listener (`ketaflow hl7 listen`): bedside monitors and their gateways connect over TCP
and send HL7 v2 messages framed by MLLP (0x0B message 0x1C 0x0D, HL7 v2.5.1 appendix C); each
message is charted by `services.monitor_feed.receive` and answered with its ACK on the same
connection, in order.

python-hl7's asyncio MLLP streams do the framing. Nothing a peer sends stops the listener: a
frame that is not an MLLP block, a frame over the size limit, text that is not HL7 and a peer
that goes quiet are dropped (counted, logged) and the connection or the next frame carries on;
a failure while charting one message is answered with an AR (HL7 error 207) and logged, and the
next message is read.

Group commit: the messages of every connection go to one queue; one writer takes all that are
waiting and charts them in one transaction (`monitor_feed.receive_batch`, in a worker thread, so a
slow write never holds up the event loop), and only after that transaction has committed is each
message's ACK written to its connection. A monitor waits for its ACK before sending the next
message (original-mode acknowledgement), so a batch holds at most one message per connection, and
the messages received while one batch commits form the next. What the charting needs to know of
each infusion is kept between batches (`monitor_context.ContextCache`, dropped whenever anyone
else charts at that clinic).
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
from ketaflow.services.monitor_context import ContextCache
from ketaflow.services.monitor_feed import MESSAGE_MAX_CHARS, Outcome, receive, receive_batch
from ketaflow.store.models import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListenerLimits:
    max_message_bytes: int = MESSAGE_MAX_CHARS  # a frame larger than this is dropped
    idle_timeout_s: float = 300.0  # a connection that sends nothing for this long is closed
    max_connections: int = 64  # more at once wait for one to close
    max_batch: int = 64  # messages charted in one transaction at most


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
        self._queue: asyncio.Queue[tuple[str, str, asyncio.Future[str | None]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.cache = ContextCache()
        self.batches = 0  # transactions committed (for tests and benchmarks)

    async def start(self) -> tuple[str, int]:
        self._server = await start_hl7_server(
            self._connection, self.host, self.port, limit=self.limits.max_message_bytes
        )
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])
        self._writer = asyncio.get_running_loop().create_task(self._write_batches())
        return str(sock[0]), self.port

    async def serve_forever(self) -> None:
        assert self._server is not None, "start() first"
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass

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
            answered: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait((decode(block), peer, answered))
            try:
                ack = await answered
            except ConnectionAbortedError:  # the listener is closing
                return
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

    async def _write_batches(self) -> None:
        """The one writer: charts what is waiting, one transaction at a time, then answers it."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.limits.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                acks = await asyncio.to_thread(self._answer_batch, [(t, p) for t, p, _ in batch])
            except BaseException as exc:  # cancelled while charting: the senders get no ACK
                for _, _, answered in batch:
                    if not answered.done():
                        answered.set_exception(ConnectionAbortedError("listener closing"))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, _, answered), ack in zip(batch, acks, strict=True):
                if not answered.done():
                    answered.set_result(ack)

    def _answer_batch(self, messages: list[tuple[str, str]]) -> list[str | None]:
        """The ACK of each message (None: not HL7, nothing to answer), once all are committed.
        Runs in a worker thread. If the batch cannot be committed, each message is tried alone,
        so one that fails is answered AR without holding the others back."""
        now = self.clock()
        try:
            with Session(self.engine, expire_on_commit=False) as db:
                outcomes = receive_batch(db, messages, now=now, cache=self.cache)
        except Exception:
            if len(messages) == 1:
                return [self._answer(*messages[0])]
            log.warning(
                "MLLP: a batch of %d messages could not be charted; charting them one by one", len(messages)
            )
            return [self._answer(text, peer) for text, peer in messages]
        self.batches += 1
        acks = self._acks(messages, outcomes, now)
        return acks

    def _acks(
        self, messages: list[tuple[str, str]], outcomes: list[Outcome], now: datetime
    ) -> list[str | None]:
        out: list[str | None] = []
        for outcome in outcomes:
            if outcome.header is None:
                self.counts["garbage"] += 1
                out.append(None)
                continue
            self.counts["duplicate" if outcome.duplicate else outcome.ack_code] += 1
            out.append(outcome.ack(now))
        return out

    def _answer(self, text: str, peer: str) -> str | None:
        """The ACK for one message charted alone (None: not HL7, nothing to answer)."""
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
        return self._acks([(text, peer)], [outcome], now)[0]
