"""Pure clinical rules for IV ketamine clinics: dosing, limits, screening, scales, vitals, discharge.

Nothing here touches the database or the web. Every function takes plain values and an optional
:class:`ClinicalRules` (the packaged defaults when omitted; a clinic's rules from
:func:`load_rules` with its override) and returns frozen dataclasses. Invalid input raises
:class:`ketaflow.errors.InvalidInput` with one plain sentence.

The web app's entry points:

- :func:`compute_dose_order` - dose, pump rate and volume, status ok/soft_limit/hard_limit
- :func:`screen` - conditions and medication strings -> findings and overall level
- :func:`describe_instrument` - a questionnaire's items and allowed answers, for forms
- :func:`score` / :func:`series_outcome` - questionnaires, alerts, response and remission
- :func:`classify_vitals` (with :func:`parse_bp`) - vital-sign level and actions
- :func:`assess_infusion_reading` - the same during an infusion, with the confirmed-pause rule
- :func:`pre_infusion_bp` - a pre-infusion blood pressure: review, defer (not today) or contraindicated
- :func:`maintenance_monitoring` - liver tests and bladder screening due or overdue on maintenance
- :func:`evaluate_discharge` / :func:`aftercare_instructions` - discharge readiness
- :func:`list_protocols` / :func:`next_titration_dose` / :func:`check_interval` - protocols
- :func:`load_rules` / :func:`apply_overrides` - a clinic's tuned rules
- :func:`unconfirmed_rules` - the placeholders a medical director must still confirm
"""

from ketaflow.clinical.discharge import (
    DischargeResult,
    Driver,
    Unmet,
    aftercare_instructions,
    evaluate_discharge,
    parse_driver,
)
from ketaflow.clinical.dosing import DoseOrder, DosingWeight, compute_dose_order, dosing_weight
from ketaflow.clinical.levels import (
    MonitoringStatus,
    OrderStatus,
    PregnancyStatus,
    Route,
    ScreeningLevel,
    Sex,
    VitalLevel,
    WeightPolicy,
)
from ketaflow.clinical.limits import LimitCheck
from ketaflow.clinical.monitoring import MonitoringItem, maintenance_monitoring
from ketaflow.clinical.protocols import (
    ProtocolSummary,
    TitrationAdvice,
    check_interval,
    list_protocols,
    next_titration_dose,
)
from ketaflow.clinical.rules import (
    ClinicalRules,
    apply_overrides,
    default_rules,
    load_rules,
    unconfirmed_rules,
)
from ketaflow.clinical.scales import (
    QuestionItem,
    Questionnaire,
    ScaleAlert,
    ScaleScore,
    SeriesOutcome,
    describe_instrument,
    score,
    series_outcome,
)
from ketaflow.clinical.screening import (
    Finding,
    Guidance,
    ScreeningResult,
    parse_pregnancy_status,
    parse_route,
    pre_infusion_bp,
    screen,
)
from ketaflow.clinical.vitals import (
    BloodPressure,
    EarlierReading,
    VitalAlert,
    VitalAssessment,
    VitalSigns,
    assess_infusion_reading,
    classify_vitals,
    confirming_symptom,
    parse_bp,
)

__all__ = [
    "BloodPressure",
    "EarlierReading",
    "Guidance",
    "MonitoringItem",
    "MonitoringStatus",
    "PregnancyStatus",
    "Route",
    "assess_infusion_reading",
    "confirming_symptom",
    "maintenance_monitoring",
    "parse_pregnancy_status",
    "parse_route",
    "pre_infusion_bp",
    "ClinicalRules",
    "DischargeResult",
    "DoseOrder",
    "DosingWeight",
    "Driver",
    "Finding",
    "LimitCheck",
    "OrderStatus",
    "ProtocolSummary",
    "QuestionItem",
    "Questionnaire",
    "ScaleAlert",
    "ScaleScore",
    "ScreeningLevel",
    "ScreeningResult",
    "SeriesOutcome",
    "Sex",
    "TitrationAdvice",
    "Unmet",
    "VitalAlert",
    "VitalAssessment",
    "VitalLevel",
    "VitalSigns",
    "WeightPolicy",
    "aftercare_instructions",
    "apply_overrides",
    "check_interval",
    "classify_vitals",
    "compute_dose_order",
    "default_rules",
    "describe_instrument",
    "dosing_weight",
    "evaluate_discharge",
    "list_protocols",
    "load_rules",
    "next_titration_dose",
    "parse_bp",
    "parse_driver",
    "score",
    "screen",
    "series_outcome",
    "unconfirmed_rules",
]
