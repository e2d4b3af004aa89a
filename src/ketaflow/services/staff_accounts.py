"""Staff accounts: create, switch off and on, roles per clinic, passwords and reset links.

Who may do what (issue 11):
- The administrator and each clinic's director manage the staff of their clinic
  (permissions.MANAGE_STAFF). A person is managed by `who` only when `who` may manage every role
  that person holds; only an administrator grants, takes or manages the administrator role.
- Nobody changes their own roles or switches their own account off (no self-promotion, no
  locking oneself out).
- Everyone changes their own password, giving the current one. A forgotten password is replaced
  through a one-time link that an administrator or the director issues and hands over (there is
  no e-mail yet; issue 17): the link is shown to them once, only its digest is kept, it works
  once and for RESET_VALID_MINUTES. A new account gets such a link too, to set its first
  password: nobody else ever knows it.
- Switching an account off, a change of their roles, a password change and a reset end all of
  that person's sessions.

Every change is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ketaflow.audit_codes import OPERATOR_ROLE
from ketaflow.errors import Conflict, Forbidden, Hidden, InvalidInput, NotFound, invalid
from ketaflow.input_rules import email_address, email_lookup_key, person_name
from ketaflow.passwords import check_new_password
from ketaflow.security import hash_password, new_token, token_digest, verify_password
from ketaflow.services import mfa
from ketaflow.services.audit import Actor, cli_origin, record, record_read
from ketaflow.services.auth import CurrentUser, SignedIn, end_all_sessions, open_session
from ketaflow.services.permissions import Action, allowed
from ketaflow.store.engine import begin_write
from ketaflow.store.models import Clinic, PasswordResetToken, StaffRole, StaffUser
from ketaflow.vocabulary import Role

# How long a reset (or first-password) link works. Short, as it is handed over in person or by
# phone straight away (OWASP Forgot Password Cheat Sheet: tokens short-lived and single use).
RESET_VALID_MINUTES = 60
NAME_MAX = 200


@dataclass(frozen=True)
class StaffRow:
    user: StaffUser
    roles: dict[uuid.UUID, set[Role]]  # clinic id -> roles
    may_manage: bool
    second_factor: bool


@dataclass(frozen=True)
class StaffDirectory:
    rows: list[StaffRow]
    clinics: list[Clinic]  # the clinics where `who` may manage staff
    grantable: dict[uuid.UUID, list[Role]]  # per clinic: the roles `who` may give there


@dataclass(frozen=True)
class IssuedLink:
    user: StaffUser
    token: str  # shown once; only its digest is stored
    expires_at: datetime


def _manager_clinics(db: Session, who: CurrentUser) -> list[Clinic]:
    ids = [uuid.UUID(c) for c in who.roles if allowed(who, Action.MANAGE_STAFF, uuid.UUID(c))]
    if not ids:
        return []
    return list(db.scalars(select(Clinic).where(Clinic.id.in_(ids)).order_by(Clinic.name)))


def _grantable(who: CurrentUser, clinic_id: uuid.UUID) -> list[Role]:
    held = who.roles.get(str(clinic_id), set())
    if not held & {Role.ADMIN, Role.DIRECTOR}:
        return []
    return [r for r in Role if r != Role.ADMIN or Role.ADMIN in held]


def _is_admin_anywhere(who: CurrentUser) -> bool:
    return any(Role.ADMIN in roles for roles in who.roles.values())


def clinics_by_id(db: Session, who: CurrentUser) -> dict[uuid.UUID, Clinic]:
    """Every clinic of `who`'s organization, by id (to name the clinics of people's roles)."""
    rows = db.scalars(select(Clinic).where(Clinic.organization_id == who.user.organization_id))
    return {c.id: c for c in rows}


def _roles_of(db: Session, user_id: uuid.UUID) -> dict[uuid.UUID, set[Role]]:
    out: dict[uuid.UUID, set[Role]] = {}
    for clinic_id, role in db.execute(
        select(StaffRole.clinic_id, StaffRole.role).where(StaffRole.user_id == user_id)
    ):
        out.setdefault(clinic_id, set()).add(role)
    return out


def _may_manage(who: CurrentUser, user: StaffUser, roles: dict[uuid.UUID, set[Role]]) -> bool:
    if user.organization_id != who.user.organization_id:
        return False
    if not roles:  # nobody's staff any more: the administrator's
        return _is_admin_anywhere(who)
    return all(set(held) <= set(_grantable(who, clinic_id)) for clinic_id, held in roles.items())


def _target(db: Session, who: CurrentUser, user_id: uuid.UUID, *, not_self: str | None = None) -> StaffUser:
    user = db.get(StaffUser, user_id)
    if user is None:
        raise NotFound("There is no such staff member in your organization.")
    if user.organization_id != who.user.organization_id:
        raise Hidden("There is no such staff member in your organization.")
    if not_self and user.id == who.user.id:
        raise Forbidden(not_self)
    if not _may_manage(who, user, _roles_of(db, user.id)):
        raise Forbidden(
            "You may manage only staff whose every role is at a clinic you run; ask an administrator."
        )
    return user


def directory(db: Session, who: CurrentUser) -> StaffDirectory:
    """The staff `who` may see: everyone with a role at a clinic where they manage staff (and, for an
    administrator, accounts with no role left). The read is audited."""
    clinics = _manager_clinics(db, who)
    if not clinics:
        raise Forbidden("Your roles do not allow you to manage staff accounts.")
    clinic_ids = [c.id for c in clinics]
    users = set(
        db.scalars(
            select(StaffUser)
            .join(StaffRole, StaffRole.user_id == StaffUser.id)
            .where(StaffRole.clinic_id.in_(clinic_ids))
        )
    )
    if _is_admin_anywhere(who):
        users |= set(
            db.scalars(
                select(StaffUser).where(
                    StaffUser.organization_id == who.user.organization_id,
                    ~select(StaffRole.id).where(StaffRole.user_id == StaffUser.id).exists(),
                )
            )
        )
    rows = []
    for user in sorted(users, key=lambda u: (u.full_name.casefold(), u.email)):
        roles = _roles_of(db, user.id)
        rows.append(StaffRow(user, roles, _may_manage(who, user, roles), user.mfa_enabled_at is not None))
    record_read(db, who.actor(), "staff.list", "staff_user", None, details={"rows": len(rows)})
    return StaffDirectory(rows, clinics, {c.id: _grantable(who, c.id) for c in clinics})


def staff_member(db: Session, who: CurrentUser, user_id: uuid.UUID) -> StaffRow:
    user = _target(db, who, user_id)
    roles = _roles_of(db, user.id)
    record_read(db, who.actor(), "staff.read", "staff_user", user.id)
    return StaffRow(user, roles, True, user.mfa_enabled_at is not None)


def parse_roles(names: Iterable[str]) -> set[Role]:
    out = set()
    for name in names:
        key = (name or "").strip().lower().replace("-", "_").replace(" ", "_")
        if not key:
            continue
        try:
            out.add(Role(key))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise invalid("roles", f"{name!r} is not a role; choose from {known}.") from None
    return out


def _check_grant(who: CurrentUser, clinic: Clinic, roles: set[Role]) -> None:
    if not allowed(who, Action.MANAGE_STAFF, clinic.id):
        raise Forbidden(f"You do not manage the staff of {clinic.name}.")
    refused = roles - set(_grantable(who, clinic.id))
    if refused:
        raise Forbidden("Only an administrator may give or take the administrator role.")


def _clinic(db: Session, who: CurrentUser, code: str) -> Clinic:
    clinic = db.scalar(
        select(Clinic).where(Clinic.code == (code or ""), Clinic.organization_id == who.user.organization_id)
    )
    if clinic is None:
        raise NotFound(f"There is no clinic {code!r} in your organization.")
    return clinic


def _issue_link(
    db: Session, who: CurrentUser, user: StaffUser, now: datetime, purpose: str, actor: Actor
) -> IssuedLink:
    # One link at a time: issuing a new one spends any earlier one still open.
    db.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    token = new_token()
    expires = now + timedelta(minutes=RESET_VALID_MINUTES)
    db.add(
        PasswordResetToken(
            user_id=user.id,
            token_sha256=token_digest(token),
            created_by_id=who.user.id,
            created_at=now,
            expires_at=expires,
        )
    )
    record(
        db,
        actor,
        f"staff.{purpose}_link_issued",
        "staff_user",
        user.id,
        details={"expires_at": expires.isoformat()},
    )
    return IssuedLink(user, token, expires)


def create(
    db: Session,
    who: CurrentUser,
    *,
    email: str,
    full_name: str,
    clinic_code: str,
    roles: set[Role],
    now: datetime,
    actor: Actor,
) -> IssuedLink:
    """A new staff account with roles at one clinic, and the one-time link to set its first password."""
    # The same rules as a patient's name (no spoofing characters; NFKC) and one rule for addresses,
    # so the duplicate check below compares normal forms (input_rules).
    full_name = person_name(full_name, "full_name", "full name", max_length=NAME_MAX)
    email = email_address(email)
    if not full_name:
        raise invalid("full_name", f"Give the person's full name (up to {NAME_MAX} characters).")
    if not roles:
        raise invalid("roles", "Give the person at least one role at the clinic.")
    begin_write(db)
    clinic = _clinic(db, who, clinic_code)
    _check_grant(who, clinic, roles)
    if db.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email)) is not None:
        db.rollback()
        raise Conflict(f"There is already an account for {email}.", field="email")
    user = StaffUser(
        organization_id=who.user.organization_id,
        email=email,
        full_name=full_name,
        # No usable password until the person sets one through their link.
        password_hash=hash_password(new_token()),
        active=True,
        created_at=now,
    )
    db.add(user)
    db.flush()
    for role in sorted(roles):
        db.add(StaffRole(user_id=user.id, clinic_id=clinic.id, role=role, granted_at=now))
    record(
        db,
        actor,
        "staff.create",
        "staff_user",
        user.id,
        clinic_id=clinic.id,
        details={"email": email, "roles": sorted(r.value for r in roles)},
    )
    issued = _issue_link(db, who, user, now, "first_password", actor)
    db.commit()
    return issued


def set_roles(
    db: Session,
    who: CurrentUser,
    user_id: uuid.UUID,
    clinic_code: str,
    roles: set[Role],
    now: datetime,
    *,
    actor: Actor,
) -> dict[uuid.UUID, set[Role]]:
    """Replace the roles a person holds at one clinic (an empty set takes them all away there)."""
    begin_write(db)
    clinic = _clinic(db, who, clinic_code)
    user = db.get(StaffUser, user_id)
    if user is None or user.organization_id != who.user.organization_id:
        db.rollback()
        raise NotFound("There is no such staff member in your organization.")
    if user.id == who.user.id:
        db.rollback()
        raise Forbidden("You cannot change your own roles; ask another director or an administrator.")
    before = _roles_of(db, user.id).get(clinic.id, set())
    _check_grant(who, clinic, roles | before)
    for role in before - roles:
        db.execute(
            delete(StaffRole).where(
                StaffRole.user_id == user.id, StaffRole.clinic_id == clinic.id, StaffRole.role == role
            )
        )
    for role in sorted(roles - before):
        db.add(StaffRole(user_id=user.id, clinic_id=clinic.id, role=role, granted_at=now))
    # A privilege change ends the person's sessions: they sign in again to a new session id
    # holding the new roles (OWASP Session Management Cheat Sheet: renew the session ID on any
    # privilege level change; issue 11 item 5).
    ended = end_all_sessions(db, user.id) if roles != before else 0
    record(
        db,
        actor,
        "staff.roles_set",
        "staff_user",
        user.id,
        clinic_id=clinic.id,
        details={
            "before": sorted(r.value for r in before),
            "after": sorted(r.value for r in roles),
            "sessions_ended": ended,
        },
    )
    db.commit()
    return _roles_of(db, user.id)


def set_active(
    db: Session, who: CurrentUser, user_id: uuid.UUID, active: bool, now: datetime, *, actor: Actor
) -> StaffUser:
    """Switch an account off (its sessions end at once) or back on (old sessions stay ended)."""
    begin_write(db)
    user = _target(db, who, user_id, not_self="You cannot switch your own account off or on.")
    if user.active != active:
        user.active = active
        ended = end_all_sessions(db, user.id) if not active else 0
        record(
            db,
            actor,
            "staff.deactivate" if not active else "staff.reactivate",
            "staff_user",
            user.id,
            details={"sessions_ended": ended} if not active else None,
        )
    db.commit()
    return user


def issue_reset_link(
    db: Session, who: CurrentUser, user_id: uuid.UUID, now: datetime, *, actor: Actor
) -> IssuedLink:
    """A one-time link for a person who forgot their password, shown once to who issues it."""
    begin_write(db)
    user = _target(db, who, user_id, not_self="Change your own password on your account page.")
    if not user.active:
        db.rollback()
        raise Conflict("The account is switched off; switch it on first.")
    issued = _issue_link(db, who, user, now, "reset", actor)
    db.commit()
    return issued


OPERATOR = "operator (command line)"


def operator_reset_link(db: Session, email: str, now: datetime) -> IssuedLink:
    """A reset link for `email`, made from the command line by whoever holds the database's
    credentials (`ketaflow reset-link`): the way back in for a locked-out administrator."""
    address = email_lookup_key(email)
    begin_write(db)
    user = db.scalar(select(StaffUser).where(func.lower(StaffUser.email) == address)) if address else None
    if user is None:
        db.rollback()
        raise NotFound(f"No staff member has the address {email!r}.")
    if not user.active:
        db.rollback()
        raise Conflict(f"{user.email}'s account is switched off; switch it on first.")
    db.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    token = new_token()
    expires = now + timedelta(minutes=RESET_VALID_MINUTES)
    db.add(
        PasswordResetToken(
            user_id=user.id,
            token_sha256=token_digest(token),
            created_by_id=None,
            created_at=now,
            expires_at=expires,
        )
    )
    origin = cli_origin("reset-link")
    record(
        db,
        Actor(None, OPERATOR, origin.ip_address, origin.user_agent, roles=OPERATOR_ROLE),
        "staff.reset_link_issued",
        "staff_user",
        user.id,
        details={"expires_at": expires.isoformat(), "by": "command line"},
    )
    db.commit()
    return IssuedLink(user, token, expires)


def reset_second_factor(
    db: Session, who: CurrentUser, user_id: uuid.UUID, now: datetime, *, actor: Actor
) -> None:
    """Take a lost phone's second factor off someone's account; they set up a new one."""
    begin_write(db)
    user = _target(db, who, user_id, not_self="Remove your own second factor on your account page.")
    mfa.clear(db, user, now)
    end_all_sessions(db, user.id)
    record(db, actor, "mfa.reset_by_manager", "staff_user", user.id)
    db.commit()


def _token_row(db: Session, token: str, now: datetime) -> tuple[PasswordResetToken, StaffUser]:
    row = db.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_sha256 == token_digest(token or ""))
    )
    user = db.get(StaffUser, row.user_id) if row is not None else None
    if row is None or user is None:
        raise InvalidInput("This link is not valid; ask your director or administrator for a new one.")
    if row.used_at is not None:
        raise InvalidInput("This link has been used already (each works once); ask for a new one.")
    if row.expires_at <= now:
        raise InvalidInput("This link has expired; ask your director or administrator for a new one.")
    if not user.active:
        raise InvalidInput("This account is switched off; ask your director or administrator.")
    return row, user


def check_reset_link(db: Session, token: str, now: datetime) -> StaffUser:
    """The account a reset link is for, or InvalidInput if it is unknown, used or expired."""
    return _token_row(db, token, now)[1]


def use_reset_link(db: Session, token: str, new_password: str, now: datetime, *, actor: Actor) -> StaffUser:
    """Set a new password through a one-time link; every session of the account ends."""
    _, user = _token_row(db, token, now)
    password = check_new_password(new_password, email=user.email, full_name=user.full_name)
    hashed = hash_password(password)  # slow (argon2): before the write transaction
    begin_write(db)
    spent = db.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.token_sha256 == token_digest(token),
            PasswordResetToken.used_at.is_(None),
            PasswordResetToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        db.rollback()
        raise InvalidInput("This link has been used already (each works once); ask for a new one.")
    user = db.get(StaffUser, user.id)  # type: ignore[assignment]
    assert user is not None
    user.password_hash = hashed
    user.password_changed_at = now
    ended = end_all_sessions(db, user.id)
    record(
        db,
        Actor(user.id, user.email, actor.ip_address, actor.user_agent),
        "staff.password_reset",
        "staff_user",
        user.id,
        details={"sessions_ended": ended},
    )
    db.commit()
    return user


def change_password(
    db: Session, who: CurrentUser, current: str, new: str, now: datetime, *, actor: Actor
) -> SignedIn:
    """Change one's own password (the current one is required). Every session of the account ends,
    this one included; the caller gets a new session (a new cookie) in its place."""
    if not verify_password(who.user.password_hash, current or ""):
        raise invalid("current_password", "That is not your current password.")
    password = check_new_password(new, email=who.user.email, full_name=who.user.full_name)
    if verify_password(who.user.password_hash, password):
        raise invalid("new_password", "Choose a password different from the current one.")
    hashed = hash_password(password)
    begin_write(db)
    user = db.get(StaffUser, who.user.id)
    assert user is not None
    user.password_hash = hashed
    user.password_changed_at = now
    ended = end_all_sessions(db, user.id)
    signed = open_session(db, user, ip_address=actor.ip_address)
    record(db, actor, "staff.password_changed", "staff_user", user.id, details={"sessions_ended": ended})
    db.commit()
    return signed
