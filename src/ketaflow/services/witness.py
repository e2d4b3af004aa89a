"""A second person who signs in themselves to witness a controlled-substance entry.

Issue 14: a waste, a destruction, an adjustment and a count need a witness who is a
different, licensed person of the same clinic and who proves it with their own
credentials at that moment, not a name picked from a list. The witness types their email
and password (and their second-factor code when they have one) on the same form; the
check is the sign-in's own (`auth.check_credentials`: the same budgets, the same audit)
but opens no session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.errors import InvalidInput, WitnessRefused
from ketaflow.services.audit import Actor, record
from ketaflow.services.auth import check_credentials
from ketaflow.services.mfa import matching_step, secret_of
from ketaflow.store.models import StaffRole
from ketaflow.vocabulary import Role

# Who may witness: the clinic's licensed clinical staff. Clinic policy (issue 14 asks for a
# "licensed person"; a director may or may not hold a clinical licence, so the role alone
# does not show one): nurses and psychiatrists.
LICENSED_ROLES = frozenset({Role.NURSE, Role.PSYCHIATRIST})


@dataclass(frozen=True)
class Witness:
    """A person whose credentials were checked just now; made only by `confirm`."""

    user_id: uuid.UUID
    label: str


@dataclass(frozen=True)
class WitnessCredentials:
    email: str
    password: str
    code: str = ""  # the witness's second-factor code, when they have one


def licensed_at(db: Session, clinic_id: uuid.UUID) -> set[uuid.UUID]:
    """The people who may witness at `clinic_id`."""
    return set(
        db.scalars(
            select(StaffRole.user_id).where(
                StaffRole.clinic_id == clinic_id, StaffRole.role.in_(LICENSED_ROLES)
            )
        )
    )


def confirm(
    db: Session,
    credentials: WitnessCredentials,
    *,
    clinic_id: uuid.UUID,
    doer_id: uuid.UUID,
    what: str,
    actor: Actor,
) -> Witness:
    """Check the witness's own credentials for `what` (e.g. "the waste of 15 mg"); audit it.

    Leaves the write transaction open (the caller writes the entry and commits), so the
    confirmation and the entry it witnesses are one transaction.
    """
    user, now = check_credentials(
        db,
        credentials.email,
        credentials.password,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
        purpose="witness",
    )
    witness_actor = Actor(user.id, user.email, actor.ip_address, actor.user_agent)
    refusal: InvalidInput | WitnessRefused | None = None
    if user.id == doer_id:
        refusal = InvalidInput(
            "The witness must be a different person from the one who records it; ask a colleague "
            "to sign in here as the witness.",
            field="witness_email",
        )
    elif user.id not in licensed_at(db, clinic_id):
        refusal = WitnessRefused(
            "The witness must be a nurse or psychiatrist of this clinic.", field="witness_email"
        )
    if refusal is not None:
        record(
            db,
            witness_actor,
            "auth.witness_refused",
            "staff_user",
            user.id,
            clinic_id=clinic_id,
            details={"for": what, "reason": refusal.message},
        )
        db.commit()
        raise refusal
    if user.mfa_enabled_at is not None:
        step = matching_step(secret_of(user), credentials.code.strip(), now, after_step=user.mfa_last_step)
        if step is None:
            record(
                db,
                witness_actor,
                "auth.witness_failed",
                "staff_user",
                user.id,
                details={"second_factor": True},
            )
            db.commit()
            raise InvalidInput(
                "The witness's code is not right; they type the 6 digits their app shows now.",
                field="witness_code",
            )
        user.mfa_last_step = step
    record(
        db,
        witness_actor,
        "auth.witness_confirmed",
        "staff_user",
        user.id,
        clinic_id=clinic_id,
        details={"for": what, "doer_id": str(doer_id)},
    )
    return Witness(user.id, user.email)
