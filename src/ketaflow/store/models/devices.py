"""Bedside monitors and the HL7 v2 messages they send (issue 16): the registry of monitors per
clinic and chair, the receipts of messages charted (each charted once), and the dead letters (the
messages that could not be charted, kept for an administrator to see and replay)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.store.models.base import Base, ClinicOwned, Identified, Versioned, utcnow


class Monitor(Identified, ClinicOwned, Versioned, Base):
    """A bedside monitor in a chair, known by the device id it sends (OBX-18's equipment instance
    identifier, e.g. its EUI-64, or MSH-3 when it sends no OBX-18) and/or the location a gateway
    sends for it (PV1-3 as sent, e.g. "INF^^3^NORTH"). Both are unique across the installation:
    a message must name one monitor, whichever clinic it comes from."""

    __tablename__ = "monitors"
    __table_args__ = (UniqueConstraint("device_id"), UniqueConstraint("location"))

    chair_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chairs.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(199))
    location: Mapped[str | None] = mapped_column(String(120))
    label: Mapped[str] = mapped_column(String(80))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))


class Hl7Receipt(Identified, ClinicOwned, Base):
    """A monitor message charted: (sender, control id) once, so a message sent again (its ACK was
    lost, say) is acknowledged without being charted twice."""

    __tablename__ = "hl7_receipts"
    __table_args__ = (UniqueConstraint("sender", "control_id"),)

    sender: Mapped[str] = mapped_column(String(200))  # MSH-3|MSH-4
    control_id: Mapped[str] = mapped_column(String(199))  # MSH-10
    monitor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("monitors.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    readings: Mapped[int] = mapped_column(Integer)  # vital-sign rows charted from it


class Hl7DeadLetter(Identified, Versioned, Base):
    """A message that could not be charted, as received, with the ACK code and reason it got.

    `clinic_id` is the clinic of the monitor when the monitor was known (NULL for an unknown
    device, which only the operator sees). Resolved when a replay charts it (or finds it charted)."""

    __tablename__ = "hl7_dead_letters"
    __table_args__ = (Index("ix_hl7_dead_letters_open", "resolved_at", "received_at"),)

    clinic_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clinics.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    peer: Mapped[str] = mapped_column(String(100))  # the sender's address, as the listener saw it
    sender: Mapped[str] = mapped_column(String(200))
    control_id: Mapped[str] = mapped_column(String(199))
    ack_code: Mapped[str] = mapped_column(String(2))
    reason: Mapped[str] = mapped_column(Text)
    location_in_message: Mapped[str] = mapped_column(String(40), default="")  # e.g. OBX^3^5
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolution: Mapped[str | None] = mapped_column(String(200))


class Hl7Outbox(Identified, ClinicOwned, Versioned, Base):
    """An HL7 message the clinic sends (ADT, RAS), kept until its destination acknowledges it.

    Sent in order per patient (`enqueued_at`, then `position` within one transaction); a message
    not acknowledged is retried with back-off (`next_attempt_at`) and holds back that patient's
    later messages; one the destination refuses (AE/AR) is kept with the reason for the
    administrator and no longer holds the others back."""

    __tablename__ = "hl7_outbox"
    __table_args__ = (
        UniqueConstraint("control_id"),
        Index("ix_hl7_outbox_pending", "acked_at", "patient_id", "enqueued_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # ADT^A04, ADT^A08, ADT^A03, RAS^O17
    control_id: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    position: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]  # set on AA/CA, and on AE/AR (with `refused`)
    ack_code: Mapped[str | None] = mapped_column(String(2))
    refused: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text)
