"""Messages to patients and staff (issue 17): the outbox, patients' message settings, on-call
psychiatrists and the tasks an alert gives them.

The outbox is durable: a message is a row written in the same transaction as what caused it
(a booking, an alert), and a worker (`ketaflow messages send`) delivers what is due. A row
holds what to send and to whom (kind, patient or staff member, the appointment it is about),
never the text with a patient's link in it: the text is rendered when it is sent, and a
portal link is made then, so its token exists only in the e-mail (services/outbox.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.store.models.base import Base, ClinicOwned, Identified, Versioned, utcnow
from ketaflow.store.types import JSONType


class OutboxMessage(Identified, ClinicOwned, Base):
    """One message to deliver: its kind, recipient, when it is due, and its delivery state.

    States (services/outbox.py): pending -> sending (leased by one worker until lease_until)
    -> sent; or back to pending with a later next_attempt_at after a temporary failure; or
    skipped (not sent, and why: no confirmed address, opted out, appointment cancelled);
    or failed (the mail server refused it for good, e.g. an unknown mailbox).
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "state", "next_attempt_at"),)

    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16), default="email")
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"), index=True)
    staff_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("appointments.id"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_tasks.id"))
    # Who (staff) caused it, if anyone: the booking's clerk; None for the scheduler.
    caused_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    # One message per cause and kind ("reminder:<appointment id>"): planning twice adds nothing.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    # Filled when sent: the address it went to and its subject (no clinical detail by design).
    to_address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)


class PatientMessageSettings(Identified, ClinicOwned, Versioned, Base):
    """Where a patient's messages go, whether the address is confirmed, and the kinds they refused."""

    __tablename__ = "patient_message_settings"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    # Set when the patient opened the confirmation link sent to `email`; a changed address
    # is unconfirmed again.
    confirmed_at: Mapped[datetime | None]
    confirm_token_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    # When the confirmation link sent last stops working (patient_access.LINK_VALID_DAYS after it
    # was sent); None with no link out, or one sent before expiry was recorded (refused).
    confirm_expires_at: Mapped[datetime | None]
    opted_out: Mapped[list[str]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OnCallPsychiatrist(Identified, ClinicOwned, Versioned, Base):
    """The psychiatrist a clinic's urgent alerts go to (one per clinic, changed by a director)."""

    __tablename__ = "on_call_psychiatrists"
    __table_args__ = (UniqueConstraint("clinic_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
    set_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))


class StaffTask(Identified, ClinicOwned, Versioned, Base):
    """Something a staff member must acknowledge (a patient's suicide-risk answer), escalated to
    the clinic's director when it is not acknowledged in time."""

    __tablename__ = "staff_tasks"

    kind: Mapped[str] = mapped_column(String(40))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    # What raised it (a questionnaire response id), for the staff page to open.
    source_id: Mapped[uuid.UUID | None]
    assigned_to_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    escalated_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
