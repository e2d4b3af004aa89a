"""Consultation, consent, treatment plans and appointments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.clinical.levels import ScreeningLevel
from ketaflow.store.models.base import (
    Base,
    ClinicalFact,
    ClinicOwned,
    Identified,
    Versioned,
    utcnow,
)
from ketaflow.store.types import JSONType, enum_column
from ketaflow.vocabulary import (
    AppointmentKind,
    AppointmentStatus,
    ConsentKind,
    ConsentStatus,
    PlanStatus,
)


class Consultation(ClinicalFact, Base):
    """A psychiatrist's consultation with its screening result, as charted."""

    __tablename__ = "consultations"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    psychiatrist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"))
    held_at: Mapped[datetime]
    indication: Mapped[str]
    screening_level: Mapped[ScreeningLevel] = mapped_column(enum_column(ScreeningLevel))
    # The screening findings as the rules produced them (level, item, reason, advice, source).
    screening_findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    patient_questions: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    eligible: Mapped[bool]
    # What was screened, as typed: medications, conditions, alcohol use, blood pressure
    # (null on consultations charted before schema 0003 and on demo history).
    screening_input: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Consent(ClinicalFact, Base):
    """Informed consent: what was consented to, when, obtained by whom, which text version."""

    __tablename__ = "consents"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    consultation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consultations.id"))
    kind: Mapped[ConsentKind] = mapped_column(enum_column(ConsentKind))
    status: Mapped[ConsentStatus] = mapped_column(enum_column(ConsentStatus))
    text_version: Mapped[str] = mapped_column(String(40))
    signed_at: Mapped[datetime]
    obtained_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"))


class TreatmentPlan(Identified, ClinicOwned, Versioned, Base):
    """The plan a psychiatrist sets from a protocol; edited over the series (versioned)."""

    __tablename__ = "treatment_plans"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    consultation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consultations.id"))
    protocol_code: Mapped[str] = mapped_column(String(64))
    planned_infusions: Mapped[int] = mapped_column(Integer)
    target_dose_mg_per_kg: Mapped[float] = mapped_column(Float)
    infusion_minutes: Mapped[float] = mapped_column(Float)
    status: Mapped[PlanStatus] = mapped_column(enum_column(PlanStatus), default=PlanStatus.ACTIVE)
    notes: Mapped[str | None] = mapped_column(Text)
    # The psychiatrist's written reason when the plan is outside a protocol's soft limit.
    override_reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Appointment(Identified, ClinicOwned, Versioned, Base):
    """A booking of a patient (into a chair, for infusions) with the day's escort."""

    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_clinic_starts", "clinic_id", "starts_at"),
        Index("ix_appointments_chair_starts", "chair_id", "starts_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    chair_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("chairs.id"))
    treatment_plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("treatment_plans.id"))
    kind: Mapped[AppointmentKind] = mapped_column(enum_column(AppointmentKind))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[AppointmentStatus] = mapped_column(
        enum_column(AppointmentStatus), default=AppointmentStatus.BOOKED
    )
    # Who takes the patient home today; check-in requires a named driver or arranged transport.
    escort_name: Mapped[str | None] = mapped_column(String(200))
    escort_phone: Mapped[str | None] = mapped_column(String(40))
    escort_relationship: Mapped[str | None] = mapped_column(String(60))
    transport_arranged: Mapped[str | None] = mapped_column(String(200))
    checked_in_at: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MonitoringCheck(ClinicalFact, Base):
    """A periodic maintenance check done (liver tests, bladder-symptom screening), with its result.

    `kind` is a key of the clinical rules' `monitoring` table; the course review works out from
    the latest of each kind whether the next one is due or overdue.
    """

    __tablename__ = "monitoring_checks"
    __table_args__ = (Index("ix_monitoring_checks_patient_kind", "patient_id", "kind", "done_on"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    done_on: Mapped[date] = mapped_column(Date)
    result: Mapped[str | None] = mapped_column(Text)
