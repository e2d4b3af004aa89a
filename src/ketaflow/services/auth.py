"""Signing in and out: argon2id passwords, server-side sessions, throttled failures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from ketaflow.errors import Forbidden, InvalidInput, NotFound
from ketaflow.input_rules import EMAIL_MAX, email_lookup_key
from ketaflow.security import check_password, hash_password, needs_rehash, new_token, token_digest
from ketaflow.services.audit import NOWHERE, Actor, Origin, record
from ketaflow.services.sign_in_throttle import (
    AccountLocked,
    SignInLimits,
    TooManyAttempts,
    prune,
    reserve,
    settle_success,
    unlock_account,
)
from ketaflow.settings import get_settings
from ketaflow.store.engine import begin_write
from ketaflow.store.models import SignInAttempt, StaffRole, StaffUser, WebSession, utcnow
from ketaflow.vocabulary import Role

__all__ = [
    "AccountLocked",
    "CurrentUser",
    "check_credentials",
    "SignInLimits",
    "SignedIn",
    "TooManyAttempts",
    "current_user",
    "end_all_sessions",
    "session_hours",
    "sign_in",
    "sign_out",
    "token_digest",
    "unlock",
]

MISMATCH = "That email address and password do not match; check them and try again."
# A session's last use is written at most once a minute (one short write, not one per page);
# the idle timeout is therefore exact to within this much.
TOUCH_EVERY = timedelta(minutes=1)


def session_hours() -> int:
    """The absolute session lifetime (NIST SP 800-63B §4.2.3 at AAL2: at most 12 hours)."""
    return get_settings().session_hours


# Half-done sign-ins (WebSession.pending): the password was right, a second step remains.
SECOND_FACTOR = "second_factor"  # give a code from the authenticator app (or a recovery code)
ENROL = "enrol"  # the user's role requires a second factor they have not set up yet
# A half-done sign-in lasts this long: enough to find the phone or scan a code, no more.
PENDING_MINUTES = 15


@dataclass(frozen=True)
class SignedIn:
    user: StaffUser
    token: str  # the cookie value; only its hash is stored
    csrf_token: str
    pending: str | None = None  # SECOND_FACTOR or ENROL: the session opens only that step


def second_step(db: Session, user: StaffUser) -> str | None:
    """What a user must still do after the right password: give a code, set a second factor up, or
    nothing (KETAFLOW_REQUIRE_MFA names the roles that must have one)."""
    if user.mfa_enabled_at is not None:
        return SECOND_FACTOR
    required = get_settings().mfa_roles()
    if required and db.scalar(
        select(StaffRole.id).where(StaffRole.user_id == user.id, StaffRole.role.in_(required)).limit(1)
    ):
        return ENROL
    return None


def check_credentials(
    db: Session,
    email: str,
    password: str,
    *,
    ip_address: str | None,
    user_agent: str | None,
    limits: SignInLimits | None = None,
    purpose: str = "sign_in",
) -> tuple[StaffUser, datetime]:
    """Check an email and password under the sign-in budgets (services/sign_in_throttle).

    One failure is reserved in every budget, in a short write, before the (deliberately slow)
    password check, which runs outside any transaction; a right password hands it back. An
    unknown address, a switched-off account and a wrong password get the same answer after the
    same argon2 work. Failures are audited as `auth.<purpose>_failed` (or `_throttled`,
    `_locked`) with the address and the user agent. On success the write transaction is left
    open for the caller, who audits what the right password was for and commits; the user and
    the time of the check are returned. Used by the sign-in and by a witness's confirmation
    (services/witness.py): a witness proves who they are the same way.
    """
    email = email_lookup_key(email)  # the one normal form accounts are stored in (input_rules)
    if not email or not password:
        raise InvalidInput("Enter your email address and your password.")
    if len(email) > EMAIL_MAX:
        raise InvalidInput(f"An email address has at most {EMAIL_MAX} characters.")
    limits = limits or SignInLimits.from_settings()
    now = utcnow()
    begin_write(db)
    user = db.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))
    actor = Actor(user.id if user else None, email, ip_address, user_agent)
    user_id = user.id if user else None
    try:
        reserve(db, email, ip_address, limits, now)
    except (TooManyAttempts, AccountLocked) as exc:
        action = f"auth.{purpose}_locked" if isinstance(exc, AccountLocked) else f"auth.{purpose}_throttled"
        record(db, actor, action, "staff_user", user_id)
        db.commit()
        raise
    # The reservation is committed before the check: checking is deliberately slow (argon2) and
    # must not hold the database's write lock while other people sign in or chart.
    db.commit()
    matches = check_password(user.password_hash if user else None, password)
    ok = user is not None and user.active and matches
    # A right password hashed with older argon2 parameters is hashed again with today's (slow:
    # before the write transaction). Only the right password can do it, so it tells nothing.
    rehashed = (
        hash_password(password) if ok and user is not None and needs_rehash(user.password_hash) else None
    )
    begin_write(db)
    db.add(SignInAttempt(email=email, attempted_at=now, succeeded=ok, ip_address=ip_address))
    if not ok or user is None:
        record(db, actor, f"auth.{purpose}_failed", "staff_user", user_id)
        db.commit()
        raise InvalidInput(MISMATCH)
    settle_success(db, email, ip_address, now)
    if rehashed is not None:
        # A bulk UPDATE, not the attribute: the same password in a new hash is no password change
        # and must not end the user's sessions (models.org._end_sessions_on); guarded so a change
        # made meanwhile is never overwritten.
        db.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id, StaffUser.password_hash == user.password_hash)
            .values(password_hash=rehashed)
            .execution_options(synchronize_session=False)
        )
    return user, now


def sign_in(
    db: Session,
    email: str,
    password: str,
    *,
    ip_address: str | None,
    user_agent: str | None,
    previous_token: str | None = None,
    limits: SignInLimits | None = None,
) -> SignedIn:
    """Check a password (`check_credentials`) and open a session; every outcome is audited.

    `previous_token` is the session the browser had, if any: it ends (the session id changes
    at every sign-in).
    """
    user, now = check_credentials(
        db, email, password, ip_address=ip_address, user_agent=user_agent, limits=limits
    )
    actor = Actor(user.id, email_lookup_key(email), ip_address, user_agent)
    if previous_token:
        db.execute(
            update(WebSession)
            .where(WebSession.token_sha256 == token_digest(previous_token), WebSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    signed = open_session(db, user, ip_address=ip_address, pending=second_step(db, user), now=now)
    record(
        db,
        actor,
        "auth.sign_in" if signed.pending is None else f"auth.password_ok_{signed.pending}",
        "staff_user",
        user.id,
    )
    db.commit()
    prune(db, now)
    return signed


def end_all_sessions(db: Session, user_id: uuid.UUID) -> int:
    """End every session of this user, now and for good: their session epoch goes up (a session
    begun under an older epoch is refused even if the user is later reactivated) and each open
    session is marked revoked. Returns how many were open.

    Joins the caller's transaction and does not commit: call it inside the use case that
    deactivates the user, changes their password or their roles, which commits (or rolls back)
    both together. Raises NotFound for an unknown user."""
    if db.get(StaffUser, user_id) is None:
        raise NotFound("There is no staff member with that id.")
    db.execute(
        update(StaffUser)
        .where(StaffUser.id == user_id)
        .values(session_epoch=StaffUser.session_epoch + 1)
        .execution_options(synchronize_session="fetch")
    )
    open_ids = db.scalars(
        select(WebSession.id).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
    ).all()
    if open_ids:
        db.execute(
            update(WebSession)
            .where(WebSession.id.in_(open_ids))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session="fetch")
        )
    return len(open_ids)


def unlock(db: Session, who: CurrentUser, email: str) -> bool:
    """Lift the lock that consecutive failed sign-ins put on an account (administrators only).

    True if the account was locked. Audited either way, in one transaction of its own."""
    if not any(Role.ADMIN in roles for roles in who.roles.values()):
        raise Forbidden("Only an administrator can unlock an account.")
    address = email_lookup_key(email)
    begin_write(db)
    user = db.scalar(select(StaffUser).where(func.lower(StaffUser.email) == address))
    if user is None:
        db.rollback()
        raise NotFound(f"No staff member has the address {email!r}.")
    was_locked = unlock_account(db, address, utcnow())
    record(
        db,
        who.actor(),
        "auth.unlock",
        "staff_user",
        user.id,
        details={"email": user.email, "was_locked": was_locked},
    )
    db.commit()
    return was_locked


@dataclass(frozen=True)
class CurrentUser:
    user: StaffUser
    session: WebSession
    roles: dict[str, set[Role]]  # clinic id (str) -> roles held there
    # Where this request came from (web/deps.py builds it); every audit event of it carries it.
    origin: Origin = NOWHERE

    @property
    def clinic_ids(self) -> set[str]:
        return set(self.roles)

    def actor(self) -> Actor:
        return Actor(
            self.user.id, self.user.email, self.origin.ip_address, self.origin.user_agent, roles=self.roles
        )


def current_user(
    db: Session, token: str | None, *, now: datetime | None = None, origin: Origin = NOWHERE
) -> CurrentUser | None:
    """The signed-in user for a session cookie, or None if it is missing, expired, idle too long,
    revoked, or older than the user's session epoch, or the user is switched off.

    One query per request (session, user and every role, by the session's unique token
    hash): this runs before every page and API call. At most once a minute per session, a
    short write records that the session is in use (the idle timeout counts from it).
    """
    found = _session_user(db, token, now, origin)
    if found is None or found.session.pending is not None:  # half-done sign-ins open no page
        return None
    return found


def pending_user(
    db: Session, token: str | None, *stages: str, origin: Origin = NOWHERE
) -> CurrentUser | None:
    """The user of a half-done sign-in at one of `stages` (see `second_step`), else None."""
    found = _session_user(db, token, None, origin)
    if found is None or found.session.pending not in stages:
        return None
    return found


# Built once: it runs before every page and API call, and building the statement and its cache
# key cost about as much as running it.
_SESSION_USER = (
    select(WebSession, StaffUser, StaffRole.clinic_id, StaffRole.role)
    .join(StaffUser, StaffUser.id == WebSession.user_id)
    .outerjoin(StaffRole, StaffRole.user_id == StaffUser.id)
    .where(WebSession.token_sha256 == bindparam("token_sha256"))
)


def _session_user(db: Session, token: str | None, now: datetime | None, origin: Origin) -> CurrentUser | None:
    if not token:
        return None
    rows = db.execute(_SESSION_USER, {"token_sha256": token_digest(token)}).all()
    if not rows:
        return None
    session, user = rows[0][0], rows[0][1]
    now = now or utcnow()
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    if (
        session.revoked_at is not None
        or session.expires_at <= now
        or now - session.last_seen_at >= idle
        or session.user_epoch != user.session_epoch
        or not user.active
    ):
        return None
    roles: dict[str, set[Role]] = {}
    for _, _, clinic_id, role in rows:
        if clinic_id is not None:
            roles.setdefault(str(clinic_id), set()).add(role)
    if now - session.last_seen_at >= TOUCH_EVERY:
        begin_write(db)
        session.last_seen_at = now
        db.commit()
    return CurrentUser(user, session, roles, origin)


def open_session(
    db: Session,
    user: StaffUser,
    *,
    ip_address: str | None,
    pending: str | None = None,
    now: datetime | None = None,
) -> SignedIn:
    """A new session for `user` in the caller's transaction (at sign-in, after a second step or
    a password change: a fresh token whenever what the session may do changes). The caller
    commits. A half-done sign-in (`pending`) lasts PENDING_MINUTES, a full one session_hours().

    Session times are the real clock's, whatever clock a request runs on."""
    token, csrf, now = new_token(), new_token(), now or utcnow()
    lasts = timedelta(minutes=PENDING_MINUTES) if pending else timedelta(hours=session_hours())
    db.add(
        WebSession(
            token_sha256=token_digest(token),
            csrf_token=csrf,
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lasts,
            ip_address=ip_address,
            user_epoch=user.session_epoch,
            pending=pending,
        )
    )
    return SignedIn(user, token, csrf, pending)


def sign_out(db: Session, who: CurrentUser) -> None:
    begin_write(db)
    who.session.revoked_at = utcnow()
    record(db, who.actor(), "auth.sign_out", "staff_user", who.user.id)
    db.commit()
