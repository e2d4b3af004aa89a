"""Patients and their history: measurements, diagnoses, medications, allergies."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.store.models.base import (
    Base,
    ClinicalFact,
    ClinicOwned,
    Identified,
    Versioned,
    utcnow,
)
from ketaflow.store.types import enum_column
from ketaflow.vocabulary import RecordStatus, Sex


class Patient(Identified, ClinicOwned, Versioned, Base):
    """A patient of the organization; `clinic_id` is the home clinic that registered them."""

    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("organization_id", "mrn"),
        # Duplicate detection and date-of-birth search at registration.
        Index("ix_patients_org_birth", "organization_id", "date_of_birth"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    mrn: Mapped[str] = mapped_column(String(32))
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100), index=True)
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(enum_column(Sex))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(Text)
    emergency_contact_name: Mapped[str | None] = mapped_column(String(200))
    emergency_contact_phone: Mapped[str | None] = mapped_column(String(40))
    emergency_contact_relationship: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BodyMeasurement(ClinicalFact, Base):
    """A dated weight (and optionally height), the basis of weight-based dosing."""

    __tablename__ = "body_measurements"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    measured_at: Mapped[datetime]
    weight_kg: Mapped[float] = mapped_column(Float)
    height_cm: Mapped[float | None] = mapped_column(Float)


class Diagnosis(ClinicalFact, Base):
    """A diagnosis or indication for treatment (ICD-10-CM code where known)."""

    __tablename__ = "diagnoses"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    code: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str]
    is_indication: Mapped[bool] = mapped_column(default=False)
    status: Mapped[RecordStatus] = mapped_column(enum_column(RecordStatus), default=RecordStatus.ACTIVE)
    noted_on: Mapped[date | None] = mapped_column(Date)


class Medication(ClinicalFact, Base):
    """A current medication as the patient wrote it, plus a normalised name where known."""

    __tablename__ = "medications"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    as_written: Mapped[str]
    normalized_name: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[RecordStatus] = mapped_column(enum_column(RecordStatus), default=RecordStatus.ACTIVE)


class Allergy(ClinicalFact, Base):
    __tablename__ = "allergies"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    substance: Mapped[str]
    reaction: Mapped[str | None]
    status: Mapped[RecordStatus] = mapped_column(enum_column(RecordStatus), default=RecordStatus.ACTIVE)
