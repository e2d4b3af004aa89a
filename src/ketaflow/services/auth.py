"""Signing in and out: argon2id passwords, server-side sessions, throttled failures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ketaflow.errors import Forbidden, InvalidInput
from ketaflow.security import new_token, token_digest, verify_password
from ketaflow.services.audit import Actor, record
from ketaflow.settings import get_settings
from ketaflow.store.engine import begin_write
from ketaflow.store.models import SignInAttempt, StaffRole, StaffUser, WebSession, utcnow
from ketaflow.vocabulary import Role

SESSION_HOURS = 12
# After this many failed sign-ins for one address within the window, refuse for the
# rest of the window (OWASP Authentication Cheat Sheet: throttle repeated failures).
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)


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


def sign_in(
    db: Session, email: str, password: str, *, ip_address: str | None, user_agent: str | None
) -> SignedIn:
    email = email.strip().lower()
    if not email or not password:
        raise InvalidInput("Enter your email address and your password.")
    now = utcnow()
    failures = db.scalar(
        select(func.count())
        .select_from(SignInAttempt)
        .where(
            SignInAttempt.email == email,
            SignInAttempt.succeeded.is_(False),
            SignInAttempt.attempted_at > now - FAILURE_WINDOW,
        )
    )
    if (failures or 0) >= MAX_FAILURES:
        raise Forbidden(
            "Too many failed sign-ins for this address; wait 15 minutes or ask your clinic administrator."
        )
    user = db.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))
    # End the reading transaction first: checking the password is deliberately slow (argon2)
    # and must not hold the database's write lock while other people sign in or chart.
    db.commit()
    ok = user is not None and user.active and verify_password(user.password_hash, password)
    begin_write(db)
    db.add(SignInAttempt(email=email, attempted_at=now, succeeded=ok, ip_address=ip_address))
    actor = Actor(user.id if user else None, email, ip_address, user_agent)
    if not ok or user is None:
        record(db, actor, "auth.sign_in_failed", "staff_user", user.id if user else None)
        db.commit()
        raise InvalidInput("That email address and password do not match; check them and try again.")
    token, csrf = new_token(), new_token()
    pending = second_step(db, user)
    db.add(
        WebSession(
            token_sha256=token_digest(token),
            csrf_token=csrf,
            user_id=user.id,
            created_at=now,
            expires_at=now
            + (timedelta(minutes=PENDING_MINUTES) if pending else timedelta(hours=SESSION_HOURS)),
            ip_address=ip_address,
            pending=pending,
        )
    )
    record(
        db, actor, "auth.sign_in" if pending is None else f"auth.password_ok_{pending}", "staff_user", user.id
    )
    db.commit()
    return SignedIn(user, token, csrf, pending)


@dataclass(frozen=True)
class CurrentUser:
    user: StaffUser
    session: WebSession
    roles: dict[str, set[Role]]  # clinic id (str) -> roles held there

    @property
    def clinic_ids(self) -> set[str]:
        return set(self.roles)

    def actor(self, ip_address: str | None = None, user_agent: str | None = None) -> Actor:
        return Actor(self.user.id, self.user.email, ip_address, user_agent)


def current_user(db: Session, token: str | None) -> CurrentUser | None:
    """The signed-in user for a session cookie, or None if it is missing, expired or revoked.

    One query per request (session, user and every role, by the session's unique token
    hash): this runs before every page and API call.
    """
    found = _session_user(db, token)
    if found is None or found.session.pending is not None:  # half-done sign-ins open no page
        return None
    return found


def pending_user(db: Session, token: str | None, *stages: str) -> CurrentUser | None:
    """The user of a half-done sign-in at one of `stages` (see `second_step`), else None."""
    found = _session_user(db, token)
    if found is None or found.session.pending not in stages:
        return None
    return found


def _session_user(db: Session, token: str | None) -> CurrentUser | None:
    if not token:
        return None
    rows = db.execute(
        select(WebSession, StaffUser, StaffRole.clinic_id, StaffRole.role)
        .join(StaffUser, StaffUser.id == WebSession.user_id)
        .outerjoin(StaffRole, StaffRole.user_id == StaffUser.id)
        .where(WebSession.token_sha256 == token_digest(token))
    ).all()
    if not rows:
        return None
    session, user = rows[0][0], rows[0][1]
    if session.revoked_at is not None or session.expires_at <= utcnow() or not user.active:
        return None
    roles: dict[str, set[Role]] = {}
    for _, _, clinic_id, role in rows:
        if clinic_id is not None:
            roles.setdefault(str(clinic_id), set()).add(role)
    return CurrentUser(user, session, roles)


def end_all_sessions(db: Session, user_id: uuid.UUID) -> int:
    """End every open session of one user (issue 11: deactivation and a password change end all of
    that person's sessions). Runs in the caller's transaction; the caller commits. Returns how many.

    Written for staff accounts (services/staff_accounts.py); the sign-in work has one of the same
    name: keep one at merge.
    """
    result = db.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def open_session(
    db: Session, user: StaffUser, *, ip_address: str | None, pending: str | None = None
) -> SignedIn:
    """A new session for `user` in the caller's transaction (after a second step or a password
    change: a fresh token whenever what the session may do changes). The caller commits.

    Session times are the real clock's (as in `sign_in`), whatever clock a request runs on."""
    token, csrf, now = new_token(), new_token(), utcnow()
    db.add(
        WebSession(
            token_sha256=token_digest(token),
            csrf_token=csrf,
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
            ip_address=ip_address,
            pending=pending,
        )
    )
    return SignedIn(user, token, csrf, pending)


def sign_out(db: Session, who: CurrentUser, *, ip_address: str | None) -> None:
    begin_write(db)
    who.session.revoked_at = utcnow()
    record(db, who.actor(ip_address), "auth.sign_out", "staff_user", who.user.id)
    db.commit()
