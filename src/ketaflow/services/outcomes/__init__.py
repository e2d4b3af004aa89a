"""Outcomes use cases: the clinic and network dashboard, the dissociation question, one patient.

Each function takes a SQLAlchemy ``Session`` or ``Engine`` and returns frozen dataclasses
ready to render (CLI, JSON API, web pages). SQL aggregates live in
:mod:`ketaflow.store.outcome_queries`, statistics in :mod:`ketaflow.analytics`; response and
remission come from the clinical rules (:func:`ketaflow.clinical.series_outcome` and
``scales.toml``), never from numbers written here. :mod:`.access` holds the same figures
for a signed-in user: permissions checked and reads audited (the web app uses it).
"""

from ketaflow.services.outcomes.common import (
    NETWORK,
    Bind,
    Scope,
    as_plain,
    outcome_definitions,
    resolve_scope,
)
from ketaflow.services.outcomes.dashboard import Dashboard, RatePerInfusion, UnitOutcomes, outcomes_dashboard
from ketaflow.services.outcomes.dissociation import DemoTruth, DissociationReport, dissociation_report
from ketaflow.services.outcomes.export import (
    AGE_TOP_CODE_YEARS,
    DATE_SHIFT_MAX_DAYS,
    ExportResult,
    export_deidentified,
)
from ketaflow.services.outcomes.trajectory import (
    InfusionMark,
    InstrumentTrajectory,
    PatientTrajectory,
    ScorePoint,
    patient_trajectory,
)

__all__ = [
    "AGE_TOP_CODE_YEARS",
    "DATE_SHIFT_MAX_DAYS",
    "NETWORK",
    "Bind",
    "Dashboard",
    "DemoTruth",
    "DissociationReport",
    "ExportResult",
    "InfusionMark",
    "InstrumentTrajectory",
    "PatientTrajectory",
    "RatePerInfusion",
    "Scope",
    "ScorePoint",
    "UnitOutcomes",
    "as_plain",
    "dissociation_report",
    "export_deidentified",
    "outcome_definitions",
    "outcomes_dashboard",
    "patient_trajectory",
    "resolve_scope",
]
