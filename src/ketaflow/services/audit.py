"""The audit trail: who did what to which record, when and from where."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ketaflow.store.engine import begin_write
from ketaflow.store.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """The person (or process) acting, and where the request came from."""

    user_id: uuid.UUID | None
    label: str
    ip_address: str | None = None
    user_agent: str | None = None


def record(
    db: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | None = None,
    *,
    clinic_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    db.add(
        AuditEvent(
            actor_user_id=actor.user_id,
            actor_label=actor.label,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            clinic_id=clinic_id,
            patient_id=patient_id,
            ip_address=actor.ip_address,
            user_agent=(actor.user_agent or "")[:255] or None,
            details=details or {},
        )
    )


def record_read(
    db: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | None = None,
    *,
    clinic_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit a read and commit it.

    The reading transaction is ended first, so the audit insert starts a short write of
    its own: on SQLite a read that later asked to write could fail outright when another
    writer committed meanwhile; a fresh write simply waits its turn.
    """
    begin_write(db)  # ends the reading transaction, then a short write of its own
    record(
        db, actor, action, entity_type, entity_id, clinic_id=clinic_id, patient_id=patient_id, details=details
    )
    db.commit()
