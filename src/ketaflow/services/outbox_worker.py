"""The outbox worker `ketaflow serve` runs in the background: `ketaflow messages send`, every few seconds,
and, between those rounds, the urgent alerts' messages (outbox.URGENT_KINDS) every half second.

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
# Seconds between full rounds (plan the reminders, escalate, send what is due), and between the
# urgent rounds that only send alerts' messages (one indexed query on an idle outbox): an urgent
# alert's message leaves within about URGENT_POLL_SECONDS of being written (issue 17: "within a
# second"; benchmarks/alert_delivery.py measures it). Engineering choices, not clinical figures.
POLL_SECONDS = 5.0
URGENT_POLL_SECONDS = 0.5


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
        urgent_poll_seconds: float = URGENT_POLL_SECONDS,
    ) -> None:
        super().__init__(name="ketaflow-outbox", daemon=True)
        self.engine, self.sender, self.clock = engine, sender, clock
        self.mail_from, self.public_url, self.escalate_minutes = mail_from, public_url, escalate_minutes
        self.poll_seconds, self.urgent_poll_seconds = poll_seconds, urgent_poll_seconds
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

    def run_urgent(self) -> outbox.DeliveryReport:
        """Send only the urgent alerts' messages now due (between full rounds)."""
        return outbox.deliver_due(
            self.session,
            self.sender,
            self.clock(),
            mail_from=self.mail_from,
            public_url=self.public_url,
            escalate_minutes=self.escalate_minutes,
            kinds=outbox.URGENT_KINDS,
        )

    def _between_rounds(self) -> None:
        """Wait for the next full round, sending urgent messages every urgent_poll_seconds meanwhile."""
        step = min(self.urgent_poll_seconds, self.poll_seconds)
        waited = 0.0
        while waited < self.poll_seconds and not self.stopping.wait(step):
            waited += step
            try:
                self.run_urgent()
            except Exception:  # the next round tries again; nothing is lost (the rows wait)
                log.exception("messages: an urgent round failed; the next one tries again")

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
            self._between_rounds()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
