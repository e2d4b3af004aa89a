"""Sign-in budgets, counted before the password is checked.

Three budgets guard each sign-in (numbers and sources in `ketaflow.settings`):

- **pair**: one account from one address, N failures per window. Only this budget slows the
  person at that address down; the account stays open from every other address, so an
  attacker cannot lock a nurse out by guessing from elsewhere.
- **address**: one address across every account (password spraying), N failures per window.
- **account**: consecutive failures of one account from anywhere; at the ceiling (at most 100,
  NIST SP 800-63B §5.2.2) the account stays locked until an administrator unlocks it.

`reserve` runs in the caller's write transaction: it locks the three rows (created on first
use, always in the same order so two sign-ins never deadlock), refuses if a budget is spent,
and otherwise counts one failure in each. Only then is the password checked, outside any
transaction; a right password hands the failure back (`settle_success`). So N parallel
guesses can never check more passwords than the budget allows: each one has to take a unit
of budget, under the row lock, before its check starts. An unknown e-mail address is budgeted
exactly like a real one, so the throttle tells nothing about which accounts exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ketaflow.errors import Forbidden
from ketaflow.settings import get_settings
from ketaflow.store.engine import begin_write, lock_row
from ketaflow.store.models import SignInAttempt, SignInThrottle

PAIR, ADDRESS, ACCOUNT = "pair", "address", "account"
_IDS = uuid.UUID("6b1f7c1e-2a0e-4b8e-9a55-4f0c1d3e5a77")  # namespace of the rows' derived ids
UNKNOWN_ADDRESS = "unknown"
# Budget rows untouched for this long hold nothing (every window is at most a day) and are
# removed after a successful sign-in, so guesses at made-up addresses do not pile up rows.
KEEP_IDLE_ROWS = timedelta(days=1)
# The most sign-in log rows one prune removes: a backlog (after an upgrade, or an attack) is
# worked off over several sign-ins, so no sign-in waits on a long delete.
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class SignInLimits:
    pair_failures: int
    pair_window: timedelta
    address_failures: int
    address_window: timedelta
    account_failures: int

    @classmethod
    def from_settings(cls) -> SignInLimits:
        s = get_settings()
        return cls(
            pair_failures=s.sign_in_pair_failures,
            pair_window=timedelta(minutes=s.sign_in_pair_window_minutes),
            address_failures=s.sign_in_address_failures,
            address_window=timedelta(minutes=s.sign_in_address_window_minutes),
            account_failures=s.sign_in_account_failures,
        )


class TooManyAttempts(Forbidden):
    """A soft limit: this address must wait before trying again (`retry_after_s` seconds)."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AccountLocked(Forbidden):
    """The hard limit: the account is locked until an administrator unlocks it."""


def throttle_id(scope: str, key: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"{scope}\n{key}")


def _keys(email: str, address: str | None) -> dict[str, str]:
    where = address or UNKNOWN_ADDRESS
    return {PAIR: f"{email}\n{where}", ADDRESS: where, ACCOUNT: email}


def _locked_rows(db: Session, keys: dict[str, str], now: datetime) -> dict[str, SignInThrottle]:
    """The budget rows for `keys`, created if new and locked until the transaction ends."""
    ids = {scope: throttle_id(scope, key) for scope, key in keys.items()}
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows: dict[str, SignInThrottle] = {}
    for scope in sorted(keys, key=lambda s: ids[s]):  # one order for everyone: no deadlocks
        db.execute(
            insert(SignInThrottle)
            .values(id=ids[scope], scope=scope, key=keys[scope], failures=0, window_started_at=now)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        lock_row(db, SignInThrottle, ids[scope])
        rows[scope] = db.scalars(
            select(SignInThrottle)
            .where(SignInThrottle.id == ids[scope])
            .execution_options(populate_existing=True)
        ).one()
    return rows


def _minutes(left: timedelta) -> str:
    minutes = max(1, -(-int(left.total_seconds()) // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def reserve(db: Session, email: str, address: str | None, limits: SignInLimits, now: datetime) -> None:
    """Count one failure in each budget before the check, or refuse (nothing counted).

    Call it inside a write transaction (`begin_write`); the caller commits."""
    rows = _locked_rows(db, _keys(email, address), now)
    account = rows[ACCOUNT]
    if account.failures >= limits.account_failures:
        raise AccountLocked(
            "This account is locked after too many failed sign-ins; "
            "ask your clinic administrator to unlock it."
        )
    for scope, window, most in (
        (PAIR, limits.pair_window, limits.pair_failures),
        (ADDRESS, limits.address_window, limits.address_failures),
    ):
        row = rows[scope]
        if row.window_started_at + window <= now:
            row.failures, row.window_started_at = 0, now
        if row.failures >= most:
            left = row.window_started_at + window - now
            raise TooManyAttempts(
                f"Too many failed sign-ins from this address; wait {_minutes(left)} and try again, "
                "or ask your clinic administrator.",
                retry_after_s=max(1, int(left.total_seconds()) + 1),
            )
    for row in rows.values():
        row.failures += 1
    if account.failures >= limits.account_failures:
        account.locked_at = now  # if this last try fails too, the account is locked from now


def settle_success(db: Session, email: str, address: str | None, now: datetime) -> None:
    """A right password: the failure counted for it is handed back, and the account's and this
    address's run of failures for it ends (the address's failures on other accounts stay)."""
    rows = _locked_rows(db, _keys(email, address), now)
    rows[PAIR].failures = 0
    rows[ACCOUNT].failures, rows[ACCOUNT].locked_at = 0, None
    rows[ADDRESS].failures = max(0, rows[ADDRESS].failures - 1)


def log_retention() -> timedelta:
    """How long the sign-in log keeps a row: the longest throttle window plus
    KETAFLOW_SIGN_IN_LOG_DAYS (the audit trail keeps the events themselves)."""
    s = get_settings()
    longest = max(s.sign_in_pair_window_minutes, s.sign_in_address_window_minutes)
    return timedelta(minutes=longest) + timedelta(days=s.sign_in_log_days)


def prune(db: Session, now: datetime) -> int:
    """Remove budget rows that hold nothing any more, and up to PRUNE_BATCH of the oldest sign-in
    log rows past `log_retention()`, in a short write of its own (holding no other row lock
    meanwhile, so it can wait for a sign-in's rows but never deadlock with one). An account row
    goes only when it has no failures left. Both deletes find their rows by an index on time."""
    begin_write(db)
    oldest = (
        select(SignInAttempt.id)
        .where(SignInAttempt.attempted_at < now - log_retention())
        .order_by(SignInAttempt.attempted_at)
        .limit(PRUNE_BATCH)
    )
    logged = db.execute(
        delete(SignInAttempt).where(SignInAttempt.id.in_(oldest)).execution_options(synchronize_session=False)
    )
    gone = db.execute(
        delete(SignInThrottle)
        .where(
            SignInThrottle.window_started_at < now - KEEP_IDLE_ROWS,
            or_(SignInThrottle.scope != ACCOUNT, SignInThrottle.failures == 0),
        )
        .execution_options(synchronize_session=False)
    )
    db.commit()
    return int(getattr(gone, "rowcount", 0) or 0) + int(getattr(logged, "rowcount", 0) or 0)


def unlock_account(db: Session, email: str, now: datetime) -> bool:
    """Clear an account's run of failures; True if it was locked. Inside a write transaction."""
    key = {ACCOUNT: email}
    row = db.get(SignInThrottle, throttle_id(ACCOUNT, email))
    if row is None:
        return False
    account = _locked_rows(db, key, now)[ACCOUNT]
    was_locked = account.locked_at is not None
    account.failures, account.locked_at = 0, None
    return was_locked
