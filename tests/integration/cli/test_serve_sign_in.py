"""A password-guessing burst against the real server (`ketaflow serve`, its default worker
processes, SQLite and PostgreSQL), as issue 11 found it: 40 wrong passwords sent at once on one
account from one address must check at most 10 (the others are refused before any check), and
the real user, from another address, still signs in at once.

The clients are on loopback: the attacker's on 127.0.0.1, the nurse's bound to 127.0.0.2 (Linux
routes all of 127.0.0.0/8 to the loopback interface). The server trusts no proxy, so an
X-Forwarded-For header sent straight to it changes nothing.
"""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaflow.demo.catalog import DEMO_PASSWORD
from ketaflow.store import models as m
from tests.integration.cli.test_serve_races import Served, served
from tests.integration.races import race
from tests.integration.web.sign_in_support import forget_sign_ins, login_token

__all__ = ["served"]  # the module's server fixture, shared with the booking races

NURSE = "nurse1.den@demo.ketaflow.org"
BURST = 40
BUDGET = 10  # KETAFLOW_SIGN_IN_PAIR_FAILURES' default


def failures_checked(served: Served) -> int:
    with Session(served.engine) as db:
        return (
            db.scalar(
                select(func.count())
                .select_from(m.SignInAttempt)
                .where(m.SignInAttempt.email == NURSE, m.SignInAttempt.succeeded.is_(False))
            )
            or 0
        )


def test_a_burst_of_wrong_passwords_checks_at_most_the_budget_and_the_nurse_still_signs_in(
    served: Served,
) -> None:
    forget_sign_ins(served.engine)
    attackers = [httpx.Client(base_url=served.url, timeout=120) for _ in range(BURST)]
    tokens = [login_token(c) for c in attackers]
    answers: list[int] = []

    def guess(i: int) -> None:
        r = attackers[i].post("/login", data={"email": NURSE, "password": f"guess-{i}", "csrf": tokens[i]})
        answers.append(r.status_code)

    try:
        race(served.engine, None, *(lambda i=i: guess(i) for i in range(BURST)))
        assert len(answers) == BURST
        checked = answers.count(400)
        assert checked <= BUDGET, sorted(answers)
        assert answers.count(429) == BURST - checked, sorted(answers)
        assert failures_checked(served) == checked
        # A forwarded address sent straight to the server is not believed: still throttled.
        spoofed = attackers[0].post(
            "/login",
            data={"email": NURSE, "password": DEMO_PASSWORD, "csrf": tokens[0]},
            headers={"X-Forwarded-For": "192.0.2.9"},
        )
        assert spoofed.status_code == 429, spoofed.text
        # The nurse, at another address, signs in at once with the right password.
        with httpx.Client(
            base_url=served.url, timeout=60, transport=httpx.HTTPTransport(local_address="127.0.0.2")
        ) as nurse:
            r = nurse.post(
                "/login", data={"email": NURSE, "password": DEMO_PASSWORD, "csrf": login_token(nurse)}
            )
            assert r.status_code == 303, r.text
            assert nurse.get("/api/me").json()["email"] == NURSE
        with Session(served.engine) as db:
            where = db.scalars(
                select(m.AuditEvent.ip_address).where(
                    m.AuditEvent.actor_label == NURSE, m.AuditEvent.action == "auth.sign_in"
                )
            ).all()
        assert "127.0.0.2" in where
    finally:
        for c in attackers:
            c.close()
        forget_sign_ins(served.engine)
