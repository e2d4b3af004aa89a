"""Outcome queries: SELECTs that aggregate in the database for the outcomes dashboard.

Every query reads the current (amended) view of clinical facts (rows no later row
amends, as :func:`ketaflow.store.facts.current`), takes an optional list of clinic ids
(None = the whole network) and groups by clinic, so one call serves a clinic page and
the network page (network figures are sums of the clinics' counts). They run on SQLite
and PostgreSQL alike; the only dialect-specific piece is the day difference below.

A *course* is one treatment plan on a depression protocol: its induction infusions, the
patient's baseline PHQ-9 (their first) and the end-of-induction PHQ-9 (the first PHQ-9
charted outside an infusion, at or after the last induction infusion and within
``END_OF_INDUCTION_WINDOW_DAYS`` of it).


Modules: :mod:`.common` (definitions, currency, scope, day arithmetic), :mod:`.courses`
(depression courses, counts, first responses, dissociation rows), :mod:`.safety` (per-infusion
figures), :mod:`.patient` (one patient, the clinic list), :mod:`.export` (research tables),
:mod:`.summary` (the stored per-clinic dashboard summaries).
"""

from ketaflow.store.outcome_queries.common import (
    END_OF_INDUCTION_WINDOW_DAYS,
    OutcomeDefinitions,
    days_between,
)
from ketaflow.store.outcome_queries.courses import (
    CourseCounts,
    CourseSummary,
    course_counts,
    course_summary,
    courses,
    dissociation_rows,
    infusions_to_response_histogram,
)
from ketaflow.store.outcome_queries.export import (
    export_courses,
    export_infusions,
    export_patients,
    export_questionnaires,
)
from ketaflow.store.outcome_queries.patient import (
    clinics,
    demo_ground_truth,
    patient_by_id,
    patient_infusions,
    patient_questionnaires,
    patients_by_mrn,
)
from ketaflow.store.outcome_queries.safety import (
    adverse_event_infusions,
    blood_pressure_pauses,
    infusion_counts,
    recovery_minutes_sums,
    side_effect_counts,
)
from ketaflow.store.outcome_queries.summary import read_summaries, replace_summaries
from ketaflow.store.outcome_queries.version import data_version

__all__ = [
    "END_OF_INDUCTION_WINDOW_DAYS",
    "CourseCounts",
    "CourseSummary",
    "OutcomeDefinitions",
    "adverse_event_infusions",
    "blood_pressure_pauses",
    "clinics",
    "course_counts",
    "course_summary",
    "courses",
    "data_version",
    "days_between",
    "demo_ground_truth",
    "dissociation_rows",
    "export_courses",
    "export_infusions",
    "export_patients",
    "export_questionnaires",
    "infusion_counts",
    "infusions_to_response_histogram",
    "patient_by_id",
    "patient_infusions",
    "patient_questionnaires",
    "patients_by_mrn",
    "read_summaries",
    "recovery_minutes_sums",
    "replace_summaries",
    "side_effect_counts",
]
