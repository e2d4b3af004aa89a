"""Staff acting from the command line: who they are and what their roles allow.

The command line runs with the database's own credentials, so `--as EMAIL` does not sign
anyone in: it names the staff member who is accountable for the change (the audit trail
records them) and applies the same role checks as the web app (services/permissions.py).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaflow.errors import Forbidden, NotFound
from ketaflow.input_rules import email_lookup_key
from ketaflow.services.audit import NOWHERE, Origin
from ketaflow.services.auth import CurrentUser
from ketaflow.store.models import StaffRole, StaffUser, WebSession, utcnow
from ketaflow.vocabulary import Role


def acting_staff(db: Session, email: str, origin: Origin = NOWHERE) -> CurrentUser:
    """The active staff member with this address and their roles per clinic, acting from `origin`
    (`ketaflow.services.audit.cli_origin` for a command)."""
    address = email_lookup_key(email)
    user = db.scalar(select(StaffUser).where(func.lower(StaffUser.email) == address)) if address else None
    if user is None:
        raise NotFound(f"No staff member has the address {email!r}; give yours with --as.")
    if not user.active:
        raise Forbidden(f"{user.email}'s account is switched off; an administrator can switch it back on.")
    roles: dict[str, set[Role]] = {}
    for clinic_id, role in db.execute(
        select(StaffRole.clinic_id, StaffRole.role).where(StaffRole.user_id == user.id)
    ):
        roles.setdefault(str(clinic_id), set()).add(role)
    now = utcnow()
    # A stand-in, never stored: the command line has no web session (no cookie, no CSRF token).
    session = WebSession(token_sha256="", csrf_token="", user_id=user.id, created_at=now, expires_at=now)
    return CurrentUser(user, session, roles, origin)
