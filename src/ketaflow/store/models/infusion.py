"""The infusion session and everything charted in it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.store.models.base import Base, ClinicalFact, ClinicOwned, Identified, utcnow
from ketaflow.store.types import JSONType, enum_column
from ketaflow.vocabulary import (
    AdministrationKind,
    AssistanceReason,
    InterventionKind,
    Severity,
    SideEffectKind,
    TreatmentPhase,
    VitalPhase,
    VitalSource,
)


class InfusionSession(Identified, ClinicOwned, Base):
    """One infusion visit: the container of everything charted in the chair.

    Its state (running, paused, stopped, discharged) is derived from the charted
    events, never stored, so it cannot disagree with them.
    """

    __tablename__ = "infusion_sessions"
    __table_args__ = (
        Index("ix_infusion_sessions_plan_phase", "treatment_plan_id", "phase", "series_number"),
        # Which infusion is in a chair at a moment: a monitor's reading (schema 0018).
        Index("ix_infusion_sessions_chair_opened", "chair_id", "opened_at"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id"), unique=True)
    treatment_plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("treatment_plans.id"))
    chair_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("chairs.id"))
    nurse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    series_number: Mapped[int] = mapped_column(Integer)
    phase: Mapped[TreatmentPhase] = mapped_column(enum_column(TreatmentPhase))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)


class DoseOrder(ClinicalFact, Base):
    """The psychiatrist's order and the pump programming derived from it."""

    __tablename__ = "dose_orders"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    ordered_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"))
    ordered_at: Mapped[datetime]
    protocol_code: Mapped[str] = mapped_column(String(64))
    dosing_weight_kg: Mapped[float] = mapped_column(Float)
    dose_mg_per_kg: Mapped[float] = mapped_column(Float)
    dose_mg: Mapped[float] = mapped_column(Float)
    duration_min: Mapped[float] = mapped_column(Float)
    bag_drug_mg: Mapped[float] = mapped_column(Float)
    bag_volume_ml: Mapped[float] = mapped_column(Float)
    rate_ml_per_h: Mapped[float] = mapped_column(Float)
    volume_ml: Mapped[float] = mapped_column(Float)
    limit_status: Mapped[str] = mapped_column(String(16), default="ok")
    override_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def vtbi_mg(self) -> float:
        """What the pump is programmed to deliver: its volume to be infused, in mg of drug."""
        return self.volume_ml * self.bag_drug_mg / self.bag_volume_ml


class AdministrationEvent(ClinicalFact, Base):
    """What the pump actually did: start, rate change, pause, resume, stop, bolus."""

    __tablename__ = "administration_events"
    __table_args__ = (
        Index("ix_administration_events_session_time", "session_id", "occurred_at"),
        Index("ix_administration_events_kind_session", "kind", "session_id", "occurred_at"),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_sessions.id"))
    kind: Mapped[AdministrationKind] = mapped_column(enum_column(AdministrationKind))
    occurred_at: Mapped[datetime]
    rate_ml_per_h: Mapped[float | None] = mapped_column(Float)
    rate_mg_per_min: Mapped[float | None] = mapped_column(Float)
    bolus_mg: Mapped[float | None] = mapped_column(Float)
    # Total drug given in this session up to this event, as the pump reports it.
    cumulative_mg: Mapped[float] = mapped_column(Float)
    # Why the pump was paused or stopped early (e.g. "blood pressure 182/110"), as charted.
    reason: Mapped[str | None] = mapped_column(Text)


class VitalSign(ClinicalFact, Base):
    """One set of vital signs, typed by a nurse or sent by a bedside monitor."""

    __tablename__ = "vital_signs"
    __table_args__ = (Index("ix_vital_signs_session_time", "session_id", "measured_at"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("infusion_sessions.id"))
    measured_at: Mapped[datetime]
    phase: Mapped[VitalPhase] = mapped_column(enum_column(VitalPhase))
    source: Mapped[VitalSource] = mapped_column(enum_column(VitalSource), default=VitalSource.MANUAL)
    systolic_mmhg: Mapped[int | None] = mapped_column(Integer)
    diastolic_mmhg: Mapped[int | None] = mapped_column(Integer)
    heart_rate_bpm: Mapped[int | None] = mapped_column(Integer)
    spo2_percent: Mapped[int | None] = mapped_column(Integer)
    respiratory_rate_per_min: Mapped[int | None] = mapped_column(Integer)
    # The sedation scale's level (MOAA/S, 5 alert ... 0 unresponsive); NULL = not recorded
    # (every reading charted before schema 0006).
    sedation_score: Mapped[int | None] = mapped_column(Integer)
    # A monitor's reading (source = monitor, schema 0018): the monitor and the HL7 message's control
    # id (MSH-10) it came in; NULL for a typed reading. `measured_at` is the observation time.
    monitor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("monitors.id"))
    message_control_id: Mapped[str | None] = mapped_column(String(199))
    # True on the amendment by which a nurse marked a monitor's reading as artefact (a probe off, the
    # patient moving), with the reason: the reading stays as charted and counts no more (schema 0018).
    artefact: Mapped[bool | None] = mapped_column(Boolean)


class SideEffect(ClinicalFact, Base):
    """A side effect or adverse event; resolution is charted as an amendment."""

    __tablename__ = "side_effects"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    kind: Mapped[SideEffectKind] = mapped_column(enum_column(SideEffectKind))
    severity: Mapped[Severity] = mapped_column(enum_column(Severity))
    onset_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    is_adverse_event: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text)


class Intervention(ClinicalFact, Base):
    """A drug given or an action taken (e.g. ondansetron 4 mg IV, infusion paused)."""

    __tablename__ = "interventions"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    side_effect_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("side_effects.id"))
    kind: Mapped[InterventionKind] = mapped_column(enum_column(InterventionKind))
    description: Mapped[str]
    drug_name: Mapped[str | None] = mapped_column(String(120))
    dose_text: Mapped[str | None] = mapped_column(String(60))
    given_at: Mapped[datetime]


class ComfortSetting(ClinicalFact, Base):
    """The comfort settings in force from `set_at` (each change is a new row)."""

    __tablename__ = "comfort_settings"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    set_at: Mapped[datetime]
    music: Mapped[bool] = mapped_column(Boolean, default=False)
    dimmed_light: Mapped[bool] = mapped_column(Boolean, default=False)
    eye_mask: Mapped[bool] = mapped_column(Boolean, default=False)
    companion_present: Mapped[bool] = mapped_column(Boolean, default=False)


class AssistanceRequest(ClinicalFact, Base):
    """The patient asked for help (e.g. to walk to the restroom); answering is an amendment."""

    __tablename__ = "assistance_requests"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    reason: Mapped[AssistanceReason] = mapped_column(enum_column(AssistanceReason))
    asked_at: Mapped[datetime]
    helped_at: Mapped[datetime | None]
    helped_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    notes: Mapped[str | None] = mapped_column(Text)


class Discharge(ClinicalFact, Base):
    """Recovery and discharge: criteria met, time, escort, instructions given."""

    __tablename__ = "discharges"
    __table_args__ = (
        Index("ix_discharges_session_time", "session_id", "discharged_at"),
        # Nobody leaves without a named driver (with a phone) or arranged transport.
        CheckConstraint(
            "(escort_name IS NOT NULL AND escort_phone IS NOT NULL) OR transport_arranged IS NOT NULL",
            name="escort_or_transport",
        ),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    discharged_at: Mapped[datetime]
    discharged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    criteria: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    recovery_score_kind: Mapped[str] = mapped_column(String(32))
    recovery_score: Mapped[int] = mapped_column(Integer)
    escort_name: Mapped[str | None] = mapped_column(String(200))
    escort_phone: Mapped[str | None] = mapped_column(String(40))
    escort_relationship: Mapped[str | None] = mapped_column(String(60))
    transport_arranged: Mapped[str | None] = mapped_column(String(200))
    instructions_given: Mapped[bool] = mapped_column(Boolean)
    # The discharge check's mental status (baseline | altered) and repeat suicide-risk screen
    # (none | present); NULL = not recorded (discharges before schema 0006).
    mental_status: Mapped[str | None] = mapped_column(String(16))
    suicidal_ideation: Mapped[str | None] = mapped_column(String(16))
    # The psychiatrist's assessment, when they discharge a patient with ideation present.
    suicide_risk_assessment: Mapped[str | None] = mapped_column(Text)


class DischargeScreen(ClinicalFact, Base):
    """A discharge check that found suicidal ideation: kept even though the discharge is refused,
    so the finding stays in the chart and flags it for the psychiatrist."""

    __tablename__ = "discharge_screens"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("infusion_sessions.id"), index=True)
    screened_at: Mapped[datetime]
    suicidal_ideation: Mapped[str] = mapped_column(String(16))
    mental_status: Mapped[str | None] = mapped_column(String(16))
