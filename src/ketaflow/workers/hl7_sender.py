"""The outbox sender (`ketaflow hl7 send --to HOST:PORT`): delivers the clinic's HL7 messages from
the outbox (services/hl7_outbox.py) to one MLLP destination, each patient's in order, waiting for
each ACK; a destination that is down or silent is retried with back-off, and nothing is lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.services import hl7_outbox as outbox
from ketaflow.store.models import utcnow

log = logging.getLogger(__name__)
VT, FS_CR = b"\x0b", b"\x1c\r"


def _msa(ack: bytes) -> tuple[str, str]:
    """MSA-1 and the reason (ERR-8, else MSA-3) of an ACK."""
    code, reason = "", ""
    for segment in ack.decode("utf-8", "replace").strip("\x0b\x1c\r\n").split("\r"):
        fields = segment.split("|")
        if fields[0] == "MSA":
            code = fields[1] if len(fields) > 1 else ""
            reason = reason or (fields[3] if len(fields) > 3 else "")
        elif fields[0] == "ERR" and len(fields) > 8 and fields[8]:
            reason = fields[8]
    return code, reason


class Hl7Sender:
    def __init__(
        self,
        engine: Engine,
        host: str,
        port: int,
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine, self.host, self.port = engine, host, port
        self.timeout_s = timeout_s
        self.clock = clock
        self.sent = 0
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def round(self) -> int:
        """One pass over the due messages; returns how many were acknowledged."""
        with Session(self.engine) as db:
            pending = outbox.due(db, self.clock())
        done = 0
        for message in pending:
            try:
                ack = await self._exchange(message.message)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                await self._drop()
                with Session(self.engine) as db:
                    outbox.failed(db, message.id, f"{type(exc).__name__}: {exc}", self.clock())
                log.warning(
                    "HL7 out: %s %s not delivered (%s); retrying later", message.kind, message.control_id, exc
                )
                break  # the destination is down: the rest waits for the next round
            code, reason = _msa(ack)
            with Session(self.engine) as db:
                if code in ("AA", "CA"):
                    outbox.delivered(db, message.id, code, self.clock())
                    done += 1
                elif code in ("AE", "AR", "CE", "CR"):
                    outbox.refused(db, message.id, code, reason or "(no reason given)", self.clock())
                else:
                    outbox.failed(db, message.id, f"an answer without MSA-1: {ack[:80]!r}", self.clock())
        self.sent += done
        return done

    async def _exchange(self, text: str) -> bytes:
        if self._conn is None:
            self._conn = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout_s)
        reader, writer = self._conn
        writer.write(VT + text.encode("utf-8") + FS_CR)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(FS_CR), self.timeout_s)

    async def _drop(self) -> None:
        if self._conn is not None:
            _, writer = self._conn
            self._conn = None
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ConnectionError):
                pass

    async def close(self) -> None:
        await self._drop()
