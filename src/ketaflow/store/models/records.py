"""Questionnaire responses, audit events, sign-in sessions and the demo-build marker."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.store.models.base import Base, Chained, ClinicalFact, Identified, utcnow
from ketaflow.store.types import JSONType, enum_column
from ketaflow.vocabulary import Instrument, Respondent


class QuestionnaireResponse(ClinicalFact, Base):
    """One completed rating scale: item answers as given, and the total as scored."""

    __tablename__ = "questionnaire_responses"
    __table_args__ = (
        Index("ix_questionnaire_responses_patient_instr", "patient_id", "instrument", "answered_at"),
        # Covers the outcome queries (trajectories, baselines) without touching the table.
        Index(
            "ix_questionnaire_responses_outcomes",
            "instrument",
            "patient_id",
            "answered_at",
            "session_id",
            "total",
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    instrument: Mapped[Instrument] = mapped_column(enum_column(Instrument))
    # Item answers in item order; null for an item left unanswered.
    answers: Mapped[list[int | None]] = mapped_column(JSONType)
    total: Mapped[int | None] = mapped_column(Integer)
    respondent: Mapped[Respondent] = mapped_column(enum_column(Respondent))
    answered_at: Mapped[datetime]
    # The day the answers describe (e.g. "over the last two weeks" up to this date).
    for_date: Mapped[date] = mapped_column(Date)


class AuditEvent(Chained, Identified, Base):
    """Who did what to which record, when and from where. Append-only like clinical facts."""

    __tablename__ = "audit_events"
    __append_only__ = True
    __table_args__ = (
        Index("ix_audit_events_patient_time", "patient_id", "occurred_at"),
        Index("ix_audit_events_actor_time", "actor_user_id", "occurred_at"),
    )

    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    # Free-text actor for non-staff actors: "patient", "system", "cli:demo-data".
    actor_label: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The FHIR AuditEvent / IHE BALP shape (schema 0013; codes and mapping in ketaflow.audit_codes):
    # how it went, what kind of event, the actor's role, why, and which server saw it.
    outcome: Mapped[str] = mapped_column(String(12), default="success", server_default="success")
    event_type: Mapped[str] = mapped_column(String(16), default="rest", server_default="rest")
    event_subtype: Mapped[str | None] = mapped_column(String(16))
    agent_role: Mapped[str | None] = mapped_column(String(64))
    purpose_of_use: Mapped[str | None] = mapped_column(String(16))
    source_observer: Mapped[str | None] = mapped_column(String(120))


class WebSession(Identified, Base):
    """A server-side sign-in session; the cookie holds a random token, the table its hash."""

    __tablename__ = "web_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # Per-session CSRF token, echoed by every form that changes something.
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip_address: Mapped[str | None] = mapped_column(String(64))
    # Last request seen (kept to the minute): the idle timeout counts from here.
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The user's session epoch when this session began; a later epoch (deactivation, password
    # change, `end_all_sessions`) ends it.
    user_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set while the sign-in is half done: "second_factor" (password right, TOTP code still to
    # give) or "enrol" (the user's role requires a second factor they have not set up). Such a
    # session opens no page but the second step (services/mfa.py); NULL is a full sign-in.
    pending: Mapped[str | None] = mapped_column(String(20))
    # Wrong second-factor codes given in this half-done sign-in (services.mfa.MAX_CODE_TRIES).
    failed_codes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SignInAttempt(Identified, Base):
    """A log of sign-in outcomes (the throttle itself counts in `SignInThrottle`; the audit trail
    keeps every sign-in event for good). Kept for KETAFLOW_SIGN_IN_LOG_DAYS beyond the longest
    throttle window, then removed (services/sign_in_throttle.prune)."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_email_time", "email", "attempted_at"),
        # Rows past their retention are deleted by time after each sign-in (schema 0014).
        Index("ix_sign_in_attempts_attempted_at", "attempted_at"),
    )

    email: Mapped[str] = mapped_column(String(254))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded: Mapped[bool]
    ip_address: Mapped[str | None] = mapped_column(String(64))


class SignInThrottle(Identified, Base):
    """One sign-in budget: failures of one account from one address ("pair"), of one address over
    all accounts ("address"), or consecutive failures of one account ("account").

    The id is derived from scope and key (`services.sign_in_throttle.throttle_id`), so the row
    can be created and locked without a lookup. A failure is counted before the password is
    checked and handed back when it turns out right: parallel guesses cannot overdraw a budget.
    """

    __tablename__ = "sign_in_throttles"

    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(400), index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    locked_at: Mapped[datetime | None]


class DemoBuild(Identified, Base):
    """Marks a demo network build: its settings (the generator's ground truth) and progress.

    Clinics are written one transaction each; `clinics_done` lets a rerun finish an
    interrupted build, and `completed_at` says the network is whole.
    """

    __tablename__ = "demo_builds"

    settings: Mapped[dict[str, Any]] = mapped_column(JSONType)
    clinics_total: Mapped[int] = mapped_column(Integer)
    clinics_done: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(Text)
