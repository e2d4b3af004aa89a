"""Suicide-risk alerts from the patient's page reach a person (issue 17).

When a patient's own answers raise a suicide-risk review (PHQ-9 item 9 above 0: scales.toml
[[scales.phq9.alerts]], Kroenke 2001; a positive C-SSRS screener, any "yes": Posner 2011 and the
screener's triage, scales.toml [scales.cssrs.severity]), `raise_alert` runs in the same
transaction as the answers: it makes a task for the clinic's on-call psychiatrist and puts an
urgent message to them in the outbox, due at once.
`ketaflow messages send` (or the worker in `serve`) sends it on its next run.

The task must be acknowledged (`acknowledge`). If it is not within KETAFLOW_ALERT_ESCALATE_MINUTES
(default 15: a clinic policy placeholder, NOT from a published source; to be confirmed by the
medical director), `escalate_due` re-sends it to the clinic's director(s), once.

The on-call psychiatrist is the one a director named (`set_on_call`); with none named, every
active psychiatrist of the clinic gets the task's message (nobody is left out).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict, InvalidInput, NotFound
from ketaflow.services import outbox
from ketaflow.services.audit import Actor, record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinics import clinic_for
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.vocabulary import Role

RISK_REVIEW = "suicide_risk_review"


def _members(db: Session, clinic_id: uuid.UUID, role: Role) -> list[uuid.UUID]:
    return list(
        db.scalars(
            select(m.StaffUser.id)
            .join(m.StaffRole, m.StaffRole.user_id == m.StaffUser.id)
            .where(m.StaffRole.clinic_id == clinic_id, m.StaffRole.role == role, m.StaffUser.active.is_(True))
            .order_by(m.StaffUser.email)
        )
    )


def on_call(db: Session, clinic_id: uuid.UUID) -> list[uuid.UUID]:
    """Who gets the clinic's alerts: the named on-call psychiatrist, else every psychiatrist."""
    named = db.scalar(select(m.OnCallPsychiatrist.user_id).where(m.OnCallPsychiatrist.clinic_id == clinic_id))
    members = _members(db, clinic_id, Role.PSYCHIATRIST)
    return [named] if named in members else members


def set_on_call(
    db: Session, who: CurrentUser, clinic_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> None:
    """Name the clinic's on-call psychiatrist (a director's change)."""
    require(who, Action.MANAGE_STAFF, clinic_id)
    begin_write(db)
    if user_id not in _members(db, clinic_id, Role.PSYCHIATRIST):
        raise NotFound("That person is not an active psychiatrist of this clinic.")
    row = db.scalar(select(m.OnCallPsychiatrist).where(m.OnCallPsychiatrist.clinic_id == clinic_id))
    if row is None:
        row = m.OnCallPsychiatrist(clinic_id=clinic_id, user_id=user_id, set_at=now, set_by_id=who.user.id)
        db.add(row)
    else:
        row.user_id, row.set_at, row.set_by_id = user_id, now, who.user.id
    db.flush()
    record(
        db,
        who.actor(),
        "on_call.set",
        "on_call_psychiatrist",
        row.id,
        clinic_id=clinic_id,
        details={"user_id": str(user_id)},
    )
    db.commit()


def set_on_call_at(db: Session, who: CurrentUser, code: str, user_id: str, now: datetime) -> None:
    """`set_on_call` from the clinic's page: the clinic by its code, the psychiatrist as typed."""
    clinic = clinic_for(db, who, code, Action.MANAGE_STAFF)
    try:
        chosen = uuid.UUID(user_id)
    except ValueError:
        raise InvalidInput("Choose the psychiatrist on call from the list.") from None
    set_on_call(db, who, clinic.id, chosen, now)


def raise_alert(
    db: Session,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    source_id: uuid.UUID,
    now: datetime,
    actor: Actor,
    reason: dict[str, str] | None = None,
) -> list[m.StaffTask]:
    """A task and an urgent message for each on-call psychiatrist, in the caller's transaction.

    `reason`: what raised it (instrument, the rules' message and its source), kept on the task and
    shown on its page."""
    tasks = []
    psychiatrists: list[uuid.UUID | None] = list(on_call(db, clinic_id))
    for user_id in psychiatrists or [None]:  # no psychiatrist at all: the directors are told at once
        task = m.StaffTask(
            id=uuid.uuid4(),
            clinic_id=clinic_id,
            kind=RISK_REVIEW,
            patient_id=patient_id,
            source_id=source_id,
            assigned_to_id=user_id,
            created_at=now,
            escalated_at=None if user_id else now,
            details=dict(reason or {}),
        )
        db.add(task)
        db.flush()
        recipients = (
            [(user_id, "risk_alert")]
            if user_id
            else [(d, "risk_escalation") for d in _members(db, clinic_id, Role.DIRECTOR)]
        )
        for recipient, kind in recipients:
            outbox.enqueue(
                db,
                clinic_id=clinic_id,
                kind=kind,
                due_at=now,
                staff_user_id=recipient,
                patient_id=patient_id,
                task_id=task.id,
                dedupe_key=f"{kind}:{task.id}:{recipient}",
            )
        record(
            db,
            actor,
            "alert.raise",
            "staff_task",
            task.id,
            clinic_id=clinic_id,
            patient_id=patient_id,
            details={
                "assigned_to_id": str(user_id) if user_id else None,
                "instrument": (reason or {}).get("instrument"),
            },
        )
        tasks.append(task)
    return tasks


@dataclass(frozen=True)
class TaskView:
    task: m.StaffTask
    patient: m.Patient
    clinic: m.Clinic
    assigned_to: str | None
    acknowledged_by: str | None
    message: str


TASK_MESSAGE = {
    RISK_REVIEW: "The patient's answers on their own page raised a suicide-risk review "
    "(PHQ-9 item 9 above 0, Kroenke 2001): a same-day review by a psychiatrist.",
}


def task_message(task: m.StaffTask) -> str:
    """What the task asks, from what raised it (the rules' alert and its source) when known."""
    reason = task.details or {}
    if reason.get("message"):
        return (
            f"From the patient's own page: {reason['message']} (Source: {reason.get('source', 'not given')}.)"
        )
    return TASK_MESSAGE.get(task.kind, task.kind)


def task_view(db: Session, who: CurrentUser, task_id: uuid.UUID) -> TaskView:
    """One task for its page (staff who may read the clinic's clinical records); the read is audited."""
    task = db.get(m.StaffTask, task_id)
    if task is None:
        raise NotFound("There is no such task.")
    require(who, Action.READ_CLINICAL, task.clinic_id)
    patient, clinic = db.get(m.Patient, task.patient_id), db.get(m.Clinic, task.clinic_id)
    assert patient is not None and clinic is not None

    def name(user_id: uuid.UUID | None) -> str | None:
        user = db.get(m.StaffUser, user_id) if user_id else None
        return user.full_name if user else None

    view = TaskView(
        task,
        patient,
        clinic,
        name(task.assigned_to_id),
        name(task.acknowledged_by_id),
        task_message(task),
    )
    record_read(
        db,
        who.actor(),
        "staff_task.read",
        "staff_task",
        task.id,
        clinic_id=task.clinic_id,
        patient_id=task.patient_id,
    )
    return view


def acknowledge(db: Session, who: CurrentUser, task_id: uuid.UUID, now: datetime) -> m.StaffTask:
    """Acknowledge a task (its psychiatrist, or the clinic's director); once."""
    begin_write(db)
    task = db.get(m.StaffTask, task_id)
    if task is None:
        raise NotFound("There is no such task.")
    require(who, Action.READ_CLINICAL, task.clinic_id)
    roles = who.roles.get(str(task.clinic_id), set())
    if task.assigned_to_id != who.user.id and Role.DIRECTOR not in roles and Role.PSYCHIATRIST not in roles:
        raise NotFound("There is no such task.")
    done = db.execute(
        update(m.StaffTask)
        .where(m.StaffTask.id == task_id, m.StaffTask.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by_id=who.user.id, version=m.StaffTask.version + 1)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        db.rollback()
        raise Conflict("This task was already acknowledged.")
    record(
        db,
        who.actor(),
        "alert.acknowledge",
        "staff_task",
        task.id,
        clinic_id=task.clinic_id,
        patient_id=task.patient_id,
    )
    db.commit()
    db.refresh(task)
    return task


def escalate_due(db: Session, now: datetime, escalate_minutes: int) -> int:
    """Re-send each task not acknowledged within `escalate_minutes` to the clinic's directors, once."""
    begin_write(db)
    late = list(
        db.scalars(
            select(m.StaffTask).where(
                m.StaffTask.acknowledged_at.is_(None),
                m.StaffTask.escalated_at.is_(None),
                m.StaffTask.created_at <= now - timedelta(minutes=escalate_minutes),
            )
        )
    )
    count = 0
    for task in late:
        taken = db.execute(
            update(m.StaffTask)
            .where(m.StaffTask.id == task.id, m.StaffTask.escalated_at.is_(None))
            .values(escalated_at=now, version=m.StaffTask.version + 1)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            continue
        for director in _members(db, task.clinic_id, Role.DIRECTOR):
            outbox.enqueue(
                db,
                clinic_id=task.clinic_id,
                kind="risk_escalation",
                due_at=now,
                staff_user_id=director,
                patient_id=task.patient_id,
                task_id=task.id,
                dedupe_key=f"risk_escalation:{task.id}:{director}",
            )
        record(
            db,
            outbox.OUTBOX_ACTOR,
            "alert.escalate",
            "staff_task",
            task.id,
            clinic_id=task.clinic_id,
            patient_id=task.patient_id,
            details={"after_minutes": escalate_minutes},
        )
        count += 1
    db.commit()
    return count
