"""All ORM models, importable from one place (and registered on `Base.metadata`)."""

from ketaflow.store.models.base import Base, ClinicalFact, utcnow
from ketaflow.store.models.care import Appointment, Consent, Consultation, MonitoringCheck, TreatmentPlan
from ketaflow.store.models.controlled import DrugLot, DrugProduct, DrugVial, LedgerEntry, StorageLocation
from ketaflow.store.models.devices import Hl7DeadLetter, Hl7Outbox, Hl7Receipt, Monitor
from ketaflow.store.models.fhir import FhirAccessToken, FhirClient, FhirExportJob
from ketaflow.store.models.infusion import (
    AdministrationEvent,
    AssistanceRequest,
    ComfortSetting,
    Discharge,
    DischargeScreen,
    DoseOrder,
    InfusionSession,
    Intervention,
    SideEffect,
    VitalSign,
)
from ketaflow.store.models.integrity import ChainCheckpoint, ChainHead
from ketaflow.store.models.messages import (
    OnCallPsychiatrist,
    OutboxMessage,
    PatientMessageSettings,
    StaffTask,
)
from ketaflow.store.models.org import (
    Chair,
    Clinic,
    ClinicClosure,
    ClinicHours,
    Organization,
    PasswordResetToken,
    StaffRecoveryCode,
    StaffRole,
    StaffUser,
)
from ketaflow.store.models.patients import Allergy, BodyMeasurement, Diagnosis, Medication, Patient
from ketaflow.store.models.portal import PatientAccessLink, PatientQuestion, PatientSession
from ketaflow.store.models.records import (
    AuditEvent,
    DemoBuild,
    QuestionnaireResponse,
    SignInAttempt,
    SignInThrottle,
    WebSession,
)
from ketaflow.store.models.summaries import OutcomeSummary

__all__ = [
    "OnCallPsychiatrist",
    "OutboxMessage",
    "PatientMessageSettings",
    "StaffTask",
    "AdministrationEvent",
    "Allergy",
    "Appointment",
    "AssistanceRequest",
    "AuditEvent",
    "Base",
    "BodyMeasurement",
    "Chair",
    "Hl7DeadLetter",
    "Hl7Outbox",
    "Hl7Receipt",
    "Monitor",
    "ChainCheckpoint",
    "ChainHead",
    "Clinic",
    "ClinicClosure",
    "ClinicHours",
    "ClinicalFact",
    "ComfortSetting",
    "Consent",
    "MonitoringCheck",
    "Consultation",
    "DemoBuild",
    "Diagnosis",
    "Discharge",
    "DischargeScreen",
    "DoseOrder",
    "DrugLot",
    "DrugProduct",
    "DrugVial",
    "FhirAccessToken",
    "FhirClient",
    "FhirExportJob",
    "InfusionSession",
    "Intervention",
    "LedgerEntry",
    "Medication",
    "Organization",
    "OutcomeSummary",
    "Patient",
    "PatientAccessLink",
    "PatientQuestion",
    "PasswordResetToken",
    "PatientSession",
    "QuestionnaireResponse",
    "SideEffect",
    "SignInAttempt",
    "SignInThrottle",
    "StaffRecoveryCode",
    "StaffRole",
    "StaffUser",
    "StorageLocation",
    "TreatmentPlan",
    "VitalSign",
    "WebSession",
    "append_only_tables",
    "utcnow",
]


def append_only_tables() -> list[str]:
    """Names of the tables whose rows the database must never update or delete."""
    return sorted(
        m.class_.__tablename__ for m in Base.registry.mappers if getattr(m.class_, "__append_only__", False)
    )


# Every session chains the append-only rows it inserts (a flush hook; see `ketaflow.store.chain`).
import ketaflow.store.chain  # noqa: E402, F401
