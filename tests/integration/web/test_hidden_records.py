"""A record of another organization is answered like a missing one (404) but told apart as Hidden, so
the web app audits the attempt as refused (web/refusals.py); a truly missing one is plain NotFound."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from ketaflow.errors import Hidden, NotFound
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinics import clinic_for
from ketaflow.services.permissions import Action
from ketaflow.services.staff_accounts import staff_member
from ketaflow.vocabulary import Role
from tests.factories import make_clinic, make_staff


def _director(db: Session) -> tuple[CurrentUser, str, object, object]:
    mine, theirs = make_clinic(db), make_clinic(db)  # two organizations
    director = make_staff(db, mine, Role.DIRECTOR)
    other = make_staff(db, theirs, Role.NURSE)
    who = CurrentUser(director, None, {str(mine.id): {Role.DIRECTOR}})  # type: ignore[arg-type]
    return who, theirs.code, theirs.id, other.id


def test_another_organizations_clinic_is_hidden_and_names_its_clinic(db: Session) -> None:
    who, code, clinic_id, _ = _director(db)
    with pytest.raises(Hidden) as hidden:
        clinic_for(db, who, code, Action.VIEW_BOARD)
    assert hidden.value.clinic_id == clinic_id
    with pytest.raises(NotFound) as missing:
        clinic_for(db, who, "nosuch", Action.VIEW_BOARD)
    assert not isinstance(missing.value, Hidden)


def test_another_organizations_staff_member_is_hidden(db: Session) -> None:
    who, _, _, other_id = _director(db)
    with pytest.raises(Hidden):
        staff_member(db, who, other_id)  # type: ignore[arg-type]
