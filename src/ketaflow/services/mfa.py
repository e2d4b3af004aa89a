"""The second factor for staff: TOTP codes (RFC 6238) from an authenticator app, and recovery codes.

- Enrolment: a new shared secret (160 bits, RFC 4226 section 4) is kept on the account, sealed
  under a key kept outside the database (ketaflow/secret_box.py), and shown once as a QR code
  (an otpauth:// URI, rendered here as SVG) and as text; it counts only after the first right
  code, which proves the app holds it. Ten single-use recovery codes are then shown once; only
  their SHA-256 digests are kept (each has 80 random bits, so a digest cannot be reversed by
  trying them all).
- Checking: 6 digits, 30-second steps, HMAC-SHA1 (what authenticator apps use; RFC 6238). The
  code of the step before and after is accepted too, for clock drift (RFC 6238 section 5.2
  recommends at most one step); a step once used is never accepted again (replay).
- A secret that this server's key cannot open (the key was lost or replaced) cannot be checked:
  the person is told so and a director or the administrator takes the factor off (`clear`), after
  which they set it up again. A secret sealed under an older key is sealed again under the
  current one at its next use (key rotation).
- A half-done sign-in (WebSession.pending) allows MAX_CODE_TRIES wrong codes, then it is ended
  and the password must be given again (which the sign-in throttle counts).

Every enrolment, use, failure and removal is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict, Forbidden, InvalidInput
from ketaflow.secret_box import SealBroken, context, open_sealed, seal, sealed_with_current_key
from ketaflow.security import token_digest, verify_password
from ketaflow.services.audit import Actor, record
from ketaflow.services.auth import ENROL, SECOND_FACTOR, CurrentUser, SignedIn, open_session
from ketaflow.settings import get_settings
from ketaflow.store.engine import begin_write
from ketaflow.store.models import StaffRecoveryCode, StaffRole, StaffUser, WebSession

ISSUER = "ketaflow"
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1  # RFC 6238 section 5.2: accept at most one step of clock drift each way
RECOVERY_CODES = 10
MAX_CODE_TRIES = 5
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed


def code_at(secret_b32: str, unix_time: int, *, digits: int = DIGITS, digest: str = "sha1") -> str:
    """The TOTP code for a base32 secret at a Unix time (RFC 6238; `digest` sha1, sha256 or sha512)."""
    totp = pyotp.TOTP(secret_b32, digits=digits, digest=getattr(hashlib, digest), interval=STEP_SECONDS)
    return totp.at(unix_time)


def matching_step(secret_b32: str, code: str, now: datetime, *, after_step: int | None) -> int | None:
    """The time step whose code `code` is (this one or one either side), if later than `after_step`."""
    code = "".join((code or "").split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(code_at(secret_b32, step * STEP_SECONDS), code):
            return step
    return None


TOTP_SEAL = "totp"  # what a sealed TOTP secret is for (bound into it, with the account's id)
UNREADABLE = (
    "Your second factor cannot be checked: this server's secret key is not the one it was set up "
    "with. Ask your director or the administrator to take your second factor off, then sign in with "
    "your password and set it up again."
)


def seal_secret(user_id: uuid.UUID, secret_b32: str) -> str:
    return seal(secret_b32, context=context(TOTP_SEAL, user_id))


def open_secret(user_id: uuid.UUID, sealed: str) -> str:
    """The base32 secret of a sealed one; Conflict (with what to do) if this server cannot open it."""
    try:
        return open_sealed(sealed, context=context(TOTP_SEAL, user_id))
    except SealBroken:
        raise Conflict(UNREADABLE) from None


def secret_of(user: StaffUser) -> str:
    """The account's TOTP secret (base32), opened from its sealed form."""
    assert user.mfa_secret_sealed is not None
    return open_secret(user.id, user.mfa_secret_sealed)


def otpauth_uri(user: StaffUser) -> str:
    return pyotp.TOTP(secret_of(user)).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an SVG QR code (drawn here: no script, no outside service)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#1d2733", light="#ffffff"))


def required_for(db: Session, user_id: uuid.UUID) -> bool:
    """Does a role this user holds require a second factor (KETAFLOW_REQUIRE_MFA)?"""
    roles = get_settings().mfa_roles()
    return (
        bool(roles)
        and db.scalar(
            select(StaffRole.id).where(StaffRole.user_id == user_id, StaffRole.role.in_(roles)).limit(1)
        )
        is not None
    )


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))  # 16 x log2(31) = 79 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _normal_recovery(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _new_recovery_codes(db: Session, user_id: uuid.UUID, now: datetime) -> list[str]:
    db.execute(
        update(StaffRecoveryCode)
        .where(StaffRecoveryCode.user_id == user_id, StaffRecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    for code in codes:
        db.add(
            StaffRecoveryCode(
                user_id=user_id, code_sha256=token_digest(_normal_recovery(code)), created_at=now
            )
        )
    return codes


def _readable_secret(db: Session, user: StaffUser, actor: Actor) -> str:
    """The user's secret inside a write transaction; if it cannot be opened, the failure is audited,
    the transaction ends and the person is told what to do (Conflict)."""
    try:
        return secret_of(user)
    except Conflict:
        db.rollback()
        begin_write(db)
        record(db, actor, "mfa.secret_unreadable", "staff_user", user.id)
        db.commit()
        raise


def _user(db: Session, who: CurrentUser) -> StaffUser:
    user = db.get(StaffUser, who.user.id)
    assert user is not None
    return user


def start_enrolment(db: Session, who: CurrentUser, *, actor: Actor) -> StaffUser:
    """Give the account a new secret to scan (kept if one is already waiting for its first code)."""
    begin_write(db)
    user = _user(db, who)
    if user.mfa_enabled_at is not None:
        db.rollback()
        raise Conflict("A second factor is already set up; remove it first to set up another phone.")
    if user.mfa_secret_sealed is not None:
        try:
            secret_of(user)
        except Conflict:  # sealed under a key this server no longer has: make a new one to scan
            user.mfa_secret_sealed = None
    if user.mfa_secret_sealed is None:
        # 160 bits (RFC 4226 section 4)
        user.mfa_secret_sealed = seal_secret(user.id, pyotp.random_base32(length=32))
        record(db, actor, "mfa.enrolment_started", "staff_user", user.id)
    db.commit()
    return user


@dataclass(frozen=True)
class Enrolled:
    recovery_codes: list[str]  # shown once
    signed_in: SignedIn | None  # a new full session when enrolment was the sign-in's second step


def confirm_enrolment(db: Session, who: CurrentUser, code: str, now: datetime, *, actor: Actor) -> Enrolled:
    """Switch the second factor on with the first right code; returns the recovery codes."""
    begin_write(db)
    user = _user(db, who)
    if user.mfa_enabled_at is not None:
        db.rollback()
        raise Conflict("A second factor is already set up.")
    if user.mfa_secret_sealed is None:
        db.rollback()
        raise Conflict("Start again: the code to scan has not been made yet.")
    step = matching_step(_readable_secret(db, user, actor), code, now, after_step=None)
    if step is None:
        record(db, actor, "mfa.enrolment_code_wrong", "staff_user", user.id)
        db.commit()
        raise InvalidInput(
            "That code does not match. Type the 6 digits the app shows now (check the phone's clock is "
            "set automatically).",
            field="code",
        )
    user.mfa_enabled_at = now
    user.mfa_last_step = step
    codes = _new_recovery_codes(db, user.id, now)
    signed = None
    if who.session.pending == ENROL:  # the enrolment was the second step of a sign-in: rotate
        session = db.get(WebSession, who.session.id)
        assert session is not None
        session.revoked_at = now
        signed = open_session(db, user, ip_address=actor.ip_address)
    record(db, actor, "mfa.enabled", "staff_user", user.id, details={"recovery_codes": len(codes)})
    if signed is not None:
        record(db, actor, "auth.sign_in", "staff_user", user.id, details={"second_factor": "enrolled"})
    db.commit()
    return Enrolled(codes, signed)


def complete_sign_in(db: Session, who: CurrentUser, code: str, now: datetime, *, actor: Actor) -> SignedIn:
    """The second step of a sign-in: a TOTP code or a recovery code. Opens a new, full session."""
    if who.session.pending != SECOND_FACTOR:
        raise Forbidden("Sign in with your password first.")
    begin_write(db)
    user = _user(db, who)
    session = db.get(WebSession, who.session.id)
    assert session is not None and user.mfa_secret_sealed is not None
    used = "totp"
    secret = _readable_secret(db, user, actor)
    step = matching_step(secret, code, now, after_step=user.mfa_last_step)
    recovery = None
    if step is None:
        recovery = db.scalar(
            select(StaffRecoveryCode).where(
                StaffRecoveryCode.user_id == user.id,
                StaffRecoveryCode.code_sha256 == token_digest(_normal_recovery(code)),
                StaffRecoveryCode.used_at.is_(None),
            )
        )
        used = "recovery_code"
    if step is None and recovery is None:
        session.failed_codes += 1
        ended = session.failed_codes >= MAX_CODE_TRIES
        if ended:
            session.revoked_at = now
        record(db, actor, "auth.second_factor_failed", "staff_user", user.id, details={"ended": ended})
        db.commit()
        if ended:
            raise Forbidden("Too many wrong codes; sign in again with your password.")
        raise InvalidInput("That code is not right; type the 6 digits the app shows now.", field="code")
    if step is not None:
        user.mfa_last_step = step
    if not sealed_with_current_key(user.mfa_secret_sealed):  # the key was rotated: seal it anew
        user.mfa_secret_sealed = seal_secret(user.id, secret)
    if recovery is not None:
        recovery.used_at = now
    session.revoked_at = now
    signed = open_session(db, user, ip_address=actor.ip_address)
    left = None
    if recovery is not None:
        left = len(
            db.scalars(
                select(StaffRecoveryCode.id).where(
                    StaffRecoveryCode.user_id == user.id, StaffRecoveryCode.used_at.is_(None)
                )
            ).all()
        )
    record(
        db,
        actor,
        "auth.sign_in",
        "staff_user",
        user.id,
        details={"second_factor": used, **({"recovery_codes_left": left} if left is not None else {})},
    )
    db.commit()
    return signed


def new_recovery_codes(db: Session, who: CurrentUser, code: str, now: datetime, *, actor: Actor) -> list[str]:
    """Replace the recovery codes (the old ones stop working); needs a current TOTP code."""
    begin_write(db)
    user = _user(db, who)
    if user.mfa_enabled_at is None or user.mfa_secret_sealed is None:
        db.rollback()
        raise Conflict("Set up a second factor first.")
    step = matching_step(_readable_secret(db, user, actor), code, now, after_step=user.mfa_last_step)
    if step is None:
        db.rollback()
        raise InvalidInput("That code is not right; type the 6 digits the app shows now.", field="code")
    user.mfa_last_step = step
    codes = _new_recovery_codes(db, user.id, now)
    record(db, actor, "mfa.recovery_codes_replaced", "staff_user", user.id)
    db.commit()
    return codes


def remove(db: Session, who: CurrentUser, password: str, now: datetime, *, actor: Actor) -> None:
    """Switch one's own second factor off (password needed); refused where a role requires it."""
    if required_for(db, who.user.id):
        raise Forbidden("Your role requires a second factor; you can set up a new phone but not remove it.")
    if not verify_password(who.user.password_hash, password or ""):
        raise InvalidInput("That is not your current password.", field="password")
    begin_write(db)
    user = _user(db, who)
    clear(db, user, now)
    record(db, actor, "mfa.removed", "staff_user", user.id)
    db.commit()


def clear(db: Session, user: StaffUser, now: datetime) -> None:
    """Take the second factor off an account (its secret and unused recovery codes); caller commits."""
    user.mfa_secret_sealed = None
    user.mfa_enabled_at = None
    user.mfa_last_step = None
    db.execute(
        update(StaffRecoveryCode)
        .where(StaffRecoveryCode.user_id == user.id, StaffRecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


def recovery_codes_left(db: Session, user_id: uuid.UUID) -> int:
    return len(
        db.scalars(
            select(StaffRecoveryCode.id).where(
                StaffRecoveryCode.user_id == user_id, StaffRecoveryCode.used_at.is_(None)
            )
        ).all()
    )
