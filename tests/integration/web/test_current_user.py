"""The per-request sign-in lookup: session, user and roles in one query, refusals kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session

from ketaflow.security import new_token, token_digest
from ketaflow.services.auth import current_user
from ketaflow.store import models as m
from ketaflow.vocabulary import Role
from tests.factories import make_clinic, make_staff


def open_session(db: Session, user: m.StaffUser, **overrides: object) -> str:
    token = new_token()
    now = m.utcnow()
    values: dict[str, object] = {
        "token_sha256": token_digest(token),
        "csrf_token": new_token(),
        "user_id": user.id,
        "created_at": now,
        "expires_at": now + timedelta(hours=1),
    }
    values.update(overrides)
    db.add(m.WebSession(**values))
    db.flush()
    return token


def test_it_finds_the_user_and_every_role_in_one_query(db: Session) -> None:
    first, second = make_clinic(db), make_clinic(db)
    user = make_staff(db, first, Role.NURSE)
    db.add_all(
        [
            m.StaffRole(user_id=user.id, clinic_id=first.id, role=Role.FRONT_DESK),
            m.StaffRole(user_id=user.id, clinic_id=second.id, role=Role.DIRECTOR),
        ]
    )
    token = open_session(db, user)
    db.flush()
    db.expunge_all()
    statements: list[str] = []
    bind = db.connection()
    event.listen(bind, "before_cursor_execute", lambda *a: statements.append(a[2]))
    who = current_user(db, token)
    assert who is not None and who.user.id == user.id
    assert who.roles == {str(first.id): {Role.NURSE, Role.FRONT_DESK}, str(second.id): {Role.DIRECTOR}}
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_a_user_without_roles_is_signed_in_with_none(db: Session) -> None:
    clinic = make_clinic(db)
    user = make_staff(db, clinic, Role.NURSE)
    db.query(m.StaffRole).filter(m.StaffRole.user_id == user.id).delete()  # roles are not facts
    token = open_session(db, user)
    who = current_user(db, token)
    assert who is not None and who.roles == {}


def test_it_refuses_a_missing_unknown_expired_or_revoked_session_and_an_inactive_user(db: Session) -> None:
    clinic = make_clinic(db)
    user = make_staff(db, clinic, Role.NURSE)
    assert current_user(db, None) is None
    assert current_user(db, "") is None
    assert current_user(db, new_token()) is None
    expired = open_session(db, user, expires_at=m.utcnow() - timedelta(seconds=1))
    assert current_user(db, expired) is None
    revoked = open_session(db, user, revoked_at=m.utcnow())
    assert current_user(db, revoked) is None
    good = open_session(db, user)
    assert current_user(db, good) is not None
    user.active = False
    db.flush()
    assert current_user(db, good) is None
