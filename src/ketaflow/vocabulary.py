"""Shared clinical vocabulary: the closed sets of values every layer agrees on.

Levels that clinical rules produce (screening, vital-sign and order levels) live with
those rules in `ketaflow.clinical.levels`; this module holds the rest.

Pure enums (no database or web imports) so the domain, the store, the web app and the
demo generator all name things the same way. Stored as their string values.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DIRECTOR = "director"
    PSYCHIATRIST = "psychiatrist"
    NURSE = "nurse"
    FRONT_DESK = "front_desk"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class AppointmentKind(StrEnum):
    CONSULTATION = "consultation"
    INFUSION = "infusion"
    FOLLOW_UP = "follow_up"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    IN_CHAIR = "in_chair"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class TreatmentPhase(StrEnum):
    INDUCTION = "induction"
    MAINTENANCE = "maintenance"


class PlanStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    STOPPED = "stopped"


class AdministrationKind(StrEnum):
    START = "start"
    RATE_CHANGE = "rate_change"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    BOLUS = "bolus"


class VitalPhase(StrEnum):
    BASELINE = "baseline"
    INFUSION = "infusion"
    RECOVERY = "recovery"


class VitalSource(StrEnum):
    MANUAL = "manual"
    MONITOR = "monitor"


class SideEffectKind(StrEnum):
    NAUSEA = "nausea"
    VOMITING = "vomiting"
    FAINTNESS = "faintness"
    DIZZINESS = "dizziness"
    HEADACHE = "headache"
    DISSOCIATION = "dissociation"
    BLURRED_VISION = "blurred_vision"
    ANXIETY = "anxiety"
    HYPERTENSION = "hypertension"
    TACHYCARDIA = "tachycardia"
    SEDATION = "sedation"
    OTHER = "other"


class Severity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class InterventionKind(StrEnum):
    DRUG = "drug"
    ACTION = "action"


class AssistanceReason(StrEnum):
    RESTROOM = "restroom"
    NAUSEA = "nausea"
    ANXIETY = "anxiety"
    REPOSITION = "reposition"
    OTHER = "other"


class Instrument(StrEnum):
    PHQ9 = "phq9"
    GAD7 = "gad7"
    MADRS = "madrs"
    QIDS_SR16 = "qids_sr16"
    CADSS = "cadss"
    CSSRS_SCREEN = "cssrs_screen"


class Respondent(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"


class ConsentKind(StrEnum):
    KETAMINE_TREATMENT = "ketamine_treatment"
    DATA_SHARING = "data_sharing"


class ConsentStatus(StrEnum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"


class RecordStatus(StrEnum):
    """Status of a history entry (diagnosis, medication, allergy)."""

    ACTIVE = "active"
    RESOLVED = "resolved"
    STOPPED = "stopped"
    ENTERED_IN_ERROR = "entered_in_error"
