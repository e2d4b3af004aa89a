"""The audit trail: who did what to which record, when and from where."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow import audit_codes as codes
from ketaflow.store.engine import begin_write
from ketaflow.store.group_commit import GroupCommitWriter, writer_for
from ketaflow.store.models import AuditEvent, utcnow


@dataclass(frozen=True)
class Origin:
    """Where an action came from. From the web: the client's address (as the trusted-proxy
    middleware resolved it) and the browser's user agent, built in one place
    (`ketaflow.web.deps.request_origin`). From the command line: no address, and the command
    with the operating-system user in place of a user agent (`cli_origin`)."""

    ip_address: str | None = None
    user_agent: str | None = None


# No known origin: an action from a test or a library call that names none.
NOWHERE = Origin()


def cli_origin(command: str) -> Origin:
    """The origin of an action taken with `ketaflow <command>`: "cli:<command>" and the OS user."""
    import getpass

    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (e.g. a bare container)
        os_user = "unknown"
    return Origin(None, f"cli:{command} (os user {os_user})")


@dataclass(frozen=True)
class Actor:
    """The person (or process) acting, and where the request came from."""

    user_id: uuid.UUID | None
    label: str
    ip_address: str | None = None
    user_agent: str | None = None
    # The roles the actor holds, by clinic id (str), or one role everywhere ("patient",
    # "operator"): the event's agent_role is the roles held at its clinic.
    roles: Mapping[str, Collection[str]] | str | None = field(default=None, compare=False, hash=False)


def shape(
    actor: Actor,
    action: str,
    *,
    clinic_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    read: bool,
    outcome: str | None = None,
    subtype: str | None = None,
) -> dict[str, Any]:
    """The FHIR AuditEvent / IHE BALP columns of an event (codes: ketaflow.audit_codes)."""
    code = codes.classify(action, read=read)
    if isinstance(actor.roles, str) or actor.roles is None:
        role = actor.roles
    else:
        held = (
            actor.roles.get(str(clinic_id)) if clinic_id else {r for rs in actor.roles.values() for r in rs}
        )
        role = ",".join(sorted(held)) if held else None
    return {
        "outcome": outcome or codes.outcome_of(action),
        "event_type": code.event_type,
        "event_subtype": subtype or code.event_subtype,
        "agent_role": role,
        "purpose_of_use": codes.purpose_of_use(
            code.event_type, action, staff=actor.user_id is not None, patient=patient_id is not None
        ),
        "source_observer": source_observer(),
    }


@lru_cache(maxsize=1)
def source_observer() -> str:
    """This installation, as the audit's observer: KETAFLOW_AUDIT_SOURCE, else ketaflow@<host name>."""
    import socket

    from ketaflow.settings import get_settings

    return (get_settings().audit_source or f"ketaflow@{socket.gethostname()}")[:120]


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
    outcome: str | None = None,
    subtype: str | None = None,
) -> None:
    """Add an audit event to the caller's transaction. `outcome` and `subtype` default to what
    the action's name implies (ketaflow.audit_codes)."""
    db.add(
        AuditEvent(
            **event_values(
                actor,
                action,
                entity_type,
                entity_id,
                clinic_id=clinic_id,
                patient_id=patient_id,
                details=details,
                outcome=outcome,
                subtype=subtype,
            )
        )
    )


def event_values(
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | None = None,
    *,
    clinic_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    outcome: str | None = None,
    subtype: str | None = None,
) -> dict[str, Any]:
    """The column values of the audit event `record` adds (for a writer that inserts many rows at
    once, like the monitor feed)."""
    return {
        "actor_user_id": actor.user_id,
        "actor_label": actor.label,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "clinic_id": clinic_id,
        "patient_id": patient_id,
        "ip_address": actor.ip_address,
        "user_agent": (actor.user_agent or "")[:255] or None,
        "details": details or {},
        **shape(
            actor,
            action,
            clinic_id=clinic_id,
            patient_id=patient_id,
            read=False,
            outcome=outcome,
            subtype=subtype,
        ),
    }


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
    """Audit a read and commit it; returns only once the audit event is committed.

    The reading transaction is ended first (it wrote nothing). On SQLite the event then
    goes to the engine's group-commit writer, which commits the audits of every read
    finishing at that moment in one short write (see `ketaflow.store.group_commit`);
    elsewhere, or when this session is already writing, it is a short write of its own.
    """
    writer = _group_writer(db)
    if writer is None:
        begin_write(db)  # ends the reading transaction, then a short write of its own
        record(
            db,
            actor,
            action,
            entity_type,
            entity_id,
            clinic_id=clinic_id,
            patient_id=patient_id,
            details=details,
            subtype=codes.classify(action, read=True).event_subtype,
        )
        db.commit()
        return
    if db.in_transaction():
        db.commit()
    writer.submit(
        AuditEvent.__table__,  # type: ignore[arg-type]
        {
            "id": uuid.uuid4(),
            "occurred_at": utcnow(),
            "actor_user_id": actor.user_id,
            "actor_label": actor.label,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "clinic_id": clinic_id,
            "patient_id": patient_id,
            "ip_address": actor.ip_address,
            "user_agent": (actor.user_agent or "")[:255] or None,
            "details": details or {},
            **shape(actor, action, clinic_id=clinic_id, patient_id=patient_id, read=True),
        },
    )


def _group_writer(db: Session) -> GroupCommitWriter | None:
    """The group-commit writer if this read may use it: SQLite, own engine, nothing of its own to write."""
    bind = db.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return None  # PostgreSQL writes concurrently; a session joined to a test's transaction stays in it
    if db.new or db.dirty or db.deleted:
        return None
    if db.in_transaction() and db.connection().info.get("ketaflow_write_lock"):
        return None  # already holds the write lock: the audit joins that write
    return writer_for(bind)
