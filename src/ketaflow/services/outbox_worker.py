"""The outbox worker `ketaflow serve` runs in the background: `ketaflow messages send`, every few seconds.

One thread in the serving process (the parent of uvicorn's worker processes when there are several),
so one worker per server; a second server (or a cron `ketaflow messages send`) beside it is safe,
as the outbox's claims make each message go once (services/outbox.py). An error in one round
(the database restarting, say) is logged and the next round tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.messaging.smtp import Sender
from ketaflow.services import alerts, outbox

log = logging.getLogger("ketaflow.messages")
# Seconds between rounds: an urgent alert's message leaves within this of being written. An
# engineering choice (a round on an idle outbox is one indexed query), not a clinical figure.
POLL_SECONDS = 5.0


class OutboxWorker(threading.Thread):
    def __init__(
        self,
        engine: Engine,
        sender: Sender,
        *,
        mail_from: str,
        public_url: str,
        escalate_minutes: int,
        clock: Callable[[], datetime],
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        super().__init__(name="ketaflow-outbox", daemon=True)
        self.engine, self.sender, self.clock = engine, sender, clock
        self.mail_from, self.public_url, self.escalate_minutes = mail_from, public_url, escalate_minutes
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()
        self.rounds = 0

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def run_once(self) -> outbox.DeliveryReport:
        now = self.clock()
        with self.session() as db:
            outbox.plan_due(db, now)
        with self.session() as db:
            alerts.escalate_due(db, now, self.escalate_minutes)
        return outbox.deliver_due(
            self.session,
            self.sender,
            now,
            mail_from=self.mail_from,
            public_url=self.public_url,
            escalate_minutes=self.escalate_minutes,
        )

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                report = self.run_once()
                if report.sent or report.retried or report.failed:
                    log.warning(
                        "messages: %d sent, %d to retry later, %d refused by the server%s",
                        report.sent,
                        report.retried,
                        report.failed,
                        f" ({report.errors[0]})" if report.errors else "",
                    )
            except Exception:  # the next round tries again; nothing is lost (the rows wait)
                log.exception("messages: this round failed; the next one tries again")
            self.rounds += 1
            self.stopping.wait(self.poll_seconds)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
