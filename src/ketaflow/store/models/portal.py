"""The patient's own access: one-time links, patient sessions and questions for the psychiatrist."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.store.models.base import Base, ClinicalFact, ClinicOwned, Identified, utcnow


class PatientAccessLink(Identified, ClinicOwned, Base):
    """A one-time link a clinic gives a patient; using it opens a patient session.

    Only the token's SHA-256 is stored; `used_at` is set the first (and only) time it works.
    """

    __tablename__ = "patient_access_links"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # The staff member who issued it; None for a link sent by e-mail (services/outbox.py),
    # which nobody at the clinic ever sees (issue 17).
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # Wrong dates of birth given with this link; at services.patient_access.MAX_BIRTH_DATE_TRIES
    # the link is spent (it cannot be used to guess the date).
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PatientSession(Identified, Base):
    """A patient's server-side sign-in session (opened by a one-time link)."""

    __tablename__ = "patient_sessions"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    link_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patient_access_links.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class PatientQuestion(ClinicalFact, Base):
    """A question the patient wrote for the psychiatrist, shown at the consultation."""

    __tablename__ = "patient_questions"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    asked_at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)
