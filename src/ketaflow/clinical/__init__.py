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

The names are loaded lazily (PEP 562): ``from ketaflow.clinical import score`` imports only the
module that holds ``score`` (and what it needs), not every rule, so a quick command such as
``ketaflow score`` does not pay for dosing, screening, vitals and discharge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Where each public name lives, for the lazy loading below.
_HOME: dict[str, str] = {
    "DischargeResult": "ketaflow.clinical.discharge",
    "Driver": "ketaflow.clinical.discharge",
    "Unmet": "ketaflow.clinical.discharge",
    "aftercare_instructions": "ketaflow.clinical.discharge",
    "evaluate_discharge": "ketaflow.clinical.discharge",
    "parse_driver": "ketaflow.clinical.discharge",
    "DoseOrder": "ketaflow.clinical.dosing",
    "DosingWeight": "ketaflow.clinical.dosing",
    "compute_dose_order": "ketaflow.clinical.dosing",
    "dosing_weight": "ketaflow.clinical.dosing",
    "MonitoringStatus": "ketaflow.clinical.levels",
    "OrderStatus": "ketaflow.clinical.levels",
    "PregnancyStatus": "ketaflow.clinical.levels",
    "Route": "ketaflow.clinical.levels",
    "ScreeningLevel": "ketaflow.clinical.levels",
    "Sex": "ketaflow.clinical.levels",
    "VitalLevel": "ketaflow.clinical.levels",
    "WeightPolicy": "ketaflow.clinical.levels",
    "LimitCheck": "ketaflow.clinical.limits",
    "MonitoringItem": "ketaflow.clinical.monitoring",
    "maintenance_monitoring": "ketaflow.clinical.monitoring",
    "ProtocolSummary": "ketaflow.clinical.protocols",
    "TitrationAdvice": "ketaflow.clinical.protocols",
    "check_interval": "ketaflow.clinical.protocols",
    "list_protocols": "ketaflow.clinical.protocols",
    "next_titration_dose": "ketaflow.clinical.protocols",
    "ClinicalRules": "ketaflow.clinical.rules",
    "apply_overrides": "ketaflow.clinical.rules",
    "default_rules": "ketaflow.clinical.rules",
    "load_rules": "ketaflow.clinical.rules",
    "unconfirmed_rules": "ketaflow.clinical.rules",
    "QuestionItem": "ketaflow.clinical.scales",
    "Questionnaire": "ketaflow.clinical.scales",
    "ScaleAlert": "ketaflow.clinical.scales",
    "ScaleScore": "ketaflow.clinical.scales",
    "SeriesOutcome": "ketaflow.clinical.scales",
    "describe_instrument": "ketaflow.clinical.scales",
    "score": "ketaflow.clinical.scales",
    "series_outcome": "ketaflow.clinical.scales",
    "Finding": "ketaflow.clinical.screening",
    "Guidance": "ketaflow.clinical.screening",
    "ScreeningResult": "ketaflow.clinical.screening",
    "parse_pregnancy_status": "ketaflow.clinical.screening",
    "parse_route": "ketaflow.clinical.screening",
    "pre_infusion_bp": "ketaflow.clinical.screening",
    "screen": "ketaflow.clinical.screening",
    "BloodPressure": "ketaflow.clinical.vitals",
    "EarlierReading": "ketaflow.clinical.vitals",
    "VitalAlert": "ketaflow.clinical.vitals",
    "VitalAssessment": "ketaflow.clinical.vitals",
    "VitalSigns": "ketaflow.clinical.vitals",
    "assess_infusion_reading": "ketaflow.clinical.vitals",
    "classify_vitals": "ketaflow.clinical.vitals",
    "confirming_symptom": "ketaflow.clinical.vitals",
    "parse_bp": "ketaflow.clinical.vitals",
}

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
    "confirming_symptom",
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


def __getattr__(name: str) -> Any:
    """Import the module that holds ``name`` on first use (PEP 562) and cache the name here."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__ (the import statement's own path), not importlib.import_module: only the former
    # shows in `python -X importtime`, which tests/unit/test_cli_startup.py reads.
    value = getattr(__import__(home, fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
