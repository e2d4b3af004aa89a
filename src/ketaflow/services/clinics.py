"""The clinics a person may see, with what each holds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ketaflow.errors import Hidden, NotFound
from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.permissions import Action, require
from ketaflow.store.models import Chair, Clinic, InfusionSession, Patient, utcnow

CODE_MAX = Clinic.__table__.c.code.type.length  # type: ignore[attr-defined]


# Built once (every board and clinic page asks); the values are bound at each call.
_CLINIC = select(Clinic).where(
    Clinic.code == bindparam("code"), Clinic.organization_id == bindparam("organization_id")
)


def clinic_for(db: Session, who: CurrentUser, code: str, action: Action) -> Clinic:
    """The clinic with `code` in the user's organization; 403 unless `who` may do `action` there."""
    # What cannot be a clinic code is not looked up. (A NUL never gets here: the web app refuses
    # any request carrying one, `ketaflow.web.nul_guard`.)
    if not code or len(code) > CODE_MAX:
        raise NotFound(f"There is no clinic {code!r} in your organization.")
    clinic = db.scalar(_CLINIC, {"code": code, "organization_id": who.user.organization_id})
    if clinic is None:
        elsewhere = db.scalar(select(Clinic.id).where(Clinic.code == code))  # only on this refusal
        message = f"There is no clinic {code!r} in your organization."
        raise Hidden(message, clinic_id=elsewhere) if elsewhere else NotFound(message)
    require(who, action, clinic.id)
    return clinic


@dataclass(frozen=True)
class ClinicSummary:
    id: uuid.UUID
    code: str
    name: str
    city: str
    region: str
    timezone: str
    chairs: int
    patients: int
    infusions: int
    infusions_last_30_days: int


def list_clinics(db: Session, who: CurrentUser) -> list[ClinicSummary]:
    """The clinics where `who` holds a role, with counts gathered in four grouped queries."""
    ids = [uuid.UUID(c) for c in who.clinic_ids]
    if not ids:
        return []
    since = utcnow() - timedelta(days=30)

    def grouped(stmt: object) -> dict[uuid.UUID, int]:
        return dict(db.execute(stmt).all())  # type: ignore[call-overload]

    chairs = grouped(
        select(Chair.clinic_id, func.count()).where(Chair.clinic_id.in_(ids)).group_by(Chair.clinic_id)
    )
    patients = grouped(
        select(Patient.clinic_id, func.count()).where(Patient.clinic_id.in_(ids)).group_by(Patient.clinic_id)
    )
    infusions = grouped(
        select(InfusionSession.clinic_id, func.count())
        .where(InfusionSession.clinic_id.in_(ids))
        .group_by(InfusionSession.clinic_id)
    )
    recent = grouped(
        select(InfusionSession.clinic_id, func.count())
        .where(InfusionSession.clinic_id.in_(ids), InfusionSession.opened_at >= since)
        .group_by(InfusionSession.clinic_id)
    )
    clinics = db.scalars(select(Clinic).where(Clinic.id.in_(ids)).order_by(Clinic.name)).all()
    record_read(db, who.actor(), "clinic.list", "clinic", details={"clinics": len(clinics)})
    return [
        ClinicSummary(
            id=c.id,
            code=c.code,
            name=c.name,
            city=c.city,
            region=c.region,
            timezone=c.timezone,
            chairs=chairs.get(c.id, 0),
            patients=patients.get(c.id, 0),
            infusions=infusions.get(c.id, 0),
            infusions_last_30_days=recent.get(c.id, 0),
        )
        for c in clinics
    ]
