"""Upkeep done by signing in (issue 11): the sign-in log is pruned past its retention (the audit
trail keeps the events), and a password hashed with older argon2 parameters is hashed again with
today's at its next successful sign-in, without ending anyone's sessions. Both engines."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta

import pytest
from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from ketaflow.errors import InvalidInput
from ketaflow.security import hash_password, verify_password
from ketaflow.services import auth, sign_in_throttle
from ketaflow.settings import get_settings
from ketaflow.store import models as m
from ketaflow.vocabulary import Role
from tests.factories import make_clinic, make_staff

PASSWORD = "a long passphrase nobody guesses"
_hosts = itertools.count(1)


def _address() -> str:
    n = next(_hosts)
    return f"10.77.{n // 256 % 256}.{n % 256}"


def _user(engine: Engine, password_hash: str) -> m.StaffUser:
    with Session(engine, expire_on_commit=False) as db:
        user = make_staff(db, make_clinic(db), Role.NURSE)
        user.password_hash = password_hash
        db.commit()
        return user


def _sign_in(engine: Engine, email: str, password: str = PASSWORD) -> auth.SignedIn:
    with Session(engine, expire_on_commit=False) as db:
        return auth.sign_in(db, email, password, ip_address=_address(), user_agent="pytest")


def _stored_hash(engine: Engine, user: m.StaffUser) -> str:
    with Session(engine) as db:
        return db.get_one(m.StaffUser, user.id).password_hash


# ---- the sign-in log ------------------------------------------------------------------------


def test_the_sign_in_log_keeps_its_retention_and_no_more(engine: Engine) -> None:
    user = _user(engine, hash_password(PASSWORD))
    s = get_settings()
    longest = timedelta(minutes=max(s.sign_in_pair_window_minutes, s.sign_in_address_window_minutes))
    keep = longest + timedelta(days=s.sign_in_log_days)
    now = m.utcnow()
    tag = uuid.uuid4().hex[:8]
    ages = {
        "just kept": keep - timedelta(hours=1),
        "past it": keep + timedelta(hours=1),
        "long gone": keep * 3,
    }
    with Session(engine) as db:
        for name, age in ages.items():
            db.add(m.SignInAttempt(email=f"{name}-{tag}@x.example", attempted_at=now - age, succeeded=False))
        db.commit()
    _sign_in(engine, user.email)
    with Session(engine) as db:
        left = set(
            db.scalars(select(m.SignInAttempt.email).where(m.SignInAttempt.email.like(f"%-{tag}@x.example")))
        )
        # The audit trail is not pruned: this sign-in is there, with its address.
        audited = db.scalar(
            select(func.count())
            .select_from(m.AuditEvent)
            .where(m.AuditEvent.action == "auth.sign_in", m.AuditEvent.entity_id == user.id)
        )
    assert left == {f"just kept-{tag}@x.example"}
    assert audited == 1


def test_a_long_backlog_is_pruned_a_batch_at_a_time(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """After an upgrade (or an attack) the log may hold many old rows: each sign-in removes at most
    one batch, so no sign-in waits on a long delete."""
    monkeypatch.setattr(sign_in_throttle, "PRUNE_BATCH", 25)
    user = _user(engine, hash_password(PASSWORD))
    tag = uuid.uuid4().hex[:8]
    old = m.utcnow() - timedelta(days=get_settings().sign_in_log_days + 2)
    with engine.begin() as conn:
        conn.execute(
            insert(m.SignInAttempt),
            [
                {
                    "id": uuid.uuid4(),
                    "email": f"old{i}-{tag}@x.example",
                    "attempted_at": old,
                    "succeeded": False,
                }
                for i in range(60)
            ],
        )

    def left() -> int:
        with Session(engine) as db:
            return int(
                db.scalar(
                    select(func.count())
                    .select_from(m.SignInAttempt)
                    .where(m.SignInAttempt.email.like(f"%-{tag}@x.example"))
                )
                or 0
            )

    counts = []
    for _ in range(4):
        _sign_in(engine, user.email)
        counts.append(left())
    # Each sign-in removes up to 25 of the oldest rows (other tests' old rows may share a batch).
    assert counts[-1] == 0 and counts == sorted(counts, reverse=True) and counts[0] >= 60 - 25


def test_the_log_retention_setting_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().sign_in_log_days == 30
    for bad in ("0", "3651", "a month"):
        monkeypatch.setenv("KETAFLOW_SIGN_IN_LOG_DAYS", bad)
        get_settings.cache_clear()
        try:
            with pytest.raises(InvalidInput, match="KETAFLOW_SIGN_IN_LOG_DAYS"):
                get_settings()
        finally:
            monkeypatch.delenv("KETAFLOW_SIGN_IN_LOG_DAYS")
            get_settings.cache_clear()


# ---- argon2 parameters ----------------------------------------------------------------------

OLD_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


def test_an_old_hash_is_replaced_at_the_next_sign_in_and_sessions_survive(engine: Engine) -> None:
    user = _user(engine, OLD_HASHER.hash(PASSWORD))
    before = _sign_in(engine, user.email)  # this sign-in rehashes ...
    new_hash = _stored_hash(engine, user)
    today = extract_parameters(hash_password("anything at all"))
    assert extract_parameters(new_hash) == today != extract_parameters(OLD_HASHER.hash(PASSWORD))
    assert verify_password(new_hash, PASSWORD) and not verify_password(new_hash, PASSWORD + "!")
    with Session(engine) as db:  # ... and the session it opened (or any other) is not ended by it
        assert auth.current_user(db, before.token) is not None
    _sign_in(engine, user.email)
    assert _stored_hash(engine, user) == new_hash  # nothing more to do once it is current
    with Session(engine) as db:
        assert auth.current_user(db, before.token) is not None


def test_a_wrong_password_never_rehashes(engine: Engine) -> None:
    old = OLD_HASHER.hash(PASSWORD)
    user = _user(engine, old)
    with pytest.raises(InvalidInput):
        _sign_in(engine, user.email, "not the password at all")
    assert _stored_hash(engine, user) == old
