"""The clinical rules as validated data: packaged defaults plus per-clinic overrides.

The defaults live in TOML files under ``ketaflow/clinical/rules/`` (dosing, screening, scales,
vitals, discharge). Every table that holds a number carries a ``source``. A clinic tunes the
rules without code changes by passing an override mapping (or TOML text) to
:func:`apply_overrides`; the override is deep-merged into the defaults and validated again.

Overrides can never raise the absolute dose ceiling: a ceiling value above the packaged one is
refused, and every protocol's hard maximum must stay at or below the ceiling.

Example clinic override (TOML)::

    [dosing_weight]
    policy = "adjusted"

    [scales.madrs.remission]
    max_total = 12
    source = "Clinic policy 2026-03: esketamine trial definition (MADRS <= 12)"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from ketaflow.clinical.levels import ScreeningLevel, VitalLevel, WeightPolicy
from ketaflow.errors import InvalidInput

Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10)]
RULE_FILES = ("dosing.toml", "screening.toml", "scales.toml", "vitals.toml", "discharge.toml")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourcedValue(_Frozen):
    value: float
    source: Source


# ----------------------------------------------------------------------------- dosing
class Ceiling(_Frozen):
    """The absolute ceiling no clinic configuration can raise."""

    dose_mg_per_kg: SourcedValue
    rate_mg_per_kg_per_h: SourcedValue
    total_mg: SourcedValue


class IdealWeightBase(_Frozen):
    male: float = Field(gt=0)
    female: float = Field(gt=0)
    per_inch_over_60_kg: float = Field(gt=0)
    source: Source


class PlausibleRange(_Frozen):
    min: float
    max: float
    source: Source


class DosingWeightRules(_Frozen):
    policy: WeightPolicy
    source: Source
    bmi_cutoff: SourcedValue
    adjusted_factor: SourcedValue
    ideal_weight_base_kg: IdealWeightBase
    plausible_weight_kg: PlausibleRange
    plausible_height_cm: PlausibleRange


class PumpRules(_Frozen):
    rate_resolution_ml_per_h: SourcedValue
    volume_resolution_ml: SourcedValue
    max_concentration_mg_per_ml: SourcedValue


class Limit(_Frozen):
    """Soft and hard limits on one quantity, like a smart pump's drug library entry."""

    hard_min: float | None = None
    soft_min: float | None = None
    soft_max: float | None = None
    hard_max: float
    source: Source

    @model_validator(mode="after")
    def _ordered(self) -> Limit:
        chain = [v for v in (self.hard_min, self.soft_min, self.soft_max, self.hard_max) if v is not None]
        if chain != sorted(chain):
            raise ValueError("limits must satisfy hard_min <= soft_min <= soft_max <= hard_max")
        return self


class ProtocolLimits(_Frozen):
    dose_mg_per_kg: Limit
    minutes: Limit
    rate_mg_per_kg_per_h: Limit
    total_mg: Limit


class SeriesPlan(_Frozen):
    infusions: int = Field(ge=1)
    per_week_min: int = Field(ge=0)
    per_week_max: int = Field(ge=0)
    min_interval_hours: float = Field(ge=0)
    over_days: int = Field(ge=1)
    source: Source


class TitrationPlan(_Frozen):
    steps_mg_per_kg: tuple[float, ...]
    assess_after_infusions: int = Field(ge=1)
    response_fraction: float = Field(gt=0, le=1)
    source: Source


class Protocol(_Frozen):
    name: str
    kind: Literal["induction", "titration", "maintenance", "pain"]
    indication: str
    default_dose_mg_per_kg: float = Field(gt=0)
    default_minutes: float = Field(gt=0)
    source: Source
    limits: ProtocolLimits
    series: SeriesPlan
    titration: TitrationPlan | None = None


# ----------------------------------------------------------------------------- screening
class BloodPressureCutoff(_Frozen):
    systolic_mm_hg: float
    diastolic_mm_hg: float
    source: Source


class ScreeningBloodPressure(_Frozen):
    review: BloodPressureCutoff
    contraindicated: BloodPressureCutoff


class ScreeningEntry(_Frozen):
    label: str
    level: ScreeningLevel
    reason: str
    advice: str
    source: Source


class ConditionRule(ScreeningEntry):
    aliases: tuple[str, ...] = Field(min_length=1)


class MedicationRule(ScreeningEntry):
    names: tuple[str, ...] = Field(min_length=1)


class ScreeningRules(_Frozen):
    blood_pressure: ScreeningBloodPressure
    conditions: dict[str, ConditionRule]
    medications: dict[str, MedicationRule]


# ----------------------------------------------------------------------------- scales
class MissingRule(_Frozen):
    max_missing: int = Field(ge=0)
    rule: str
    source: Source


class Band(_Frozen):
    min: int
    label: str


class Severity(_Frozen):
    bands: tuple[Band, ...] = Field(min_length=1)
    source: Source

    @model_validator(mode="after")
    def _ascending(self) -> Severity:
        mins = [b.min for b in self.bands]
        if mins != sorted(set(mins)) or mins[0] != 0:
            raise ValueError("severity bands must start at 0 and ascend strictly")
        return self


class Remission(_Frozen):
    max_total: int = Field(ge=0)
    source: Source


class ItemAlert(_Frozen):
    item: int = Field(ge=1)
    min_answer: int = Field(ge=0)
    kind: str
    message: str
    source: Source


class Instrument(_Frozen):
    name: str
    title: str
    items: int = Field(ge=1)
    answer_min: int
    answer_max: int
    item6_max: int | None = None
    domains: tuple[tuple[int, ...], ...] | None = None
    source: Source
    missing: MissingRule
    severity: Severity
    remission: Remission | None = None
    alerts: tuple[ItemAlert, ...] = ()


class ResponseRule(_Frozen):
    min_reduction_fraction: float = Field(gt=0, le=1)
    source: Source


# ----------------------------------------------------------------------------- vitals
class VitalThreshold(_Frozen):
    label: str
    unit: str
    direction: Literal["high", "low"]
    watch: float | None = None
    pause: float | None = None
    stop: float | None = None
    source: Source


class RelativeThreshold(_Frozen):
    label: str
    watch: float | None = None
    pause: float | None = None
    stop: float | None = None
    source: Source


class VitalPlausible(_Frozen):
    systolic_min: float
    systolic_max: float
    diastolic_min: float
    diastolic_max: float
    heart_rate_min: float
    heart_rate_max: float
    spo2_min: float
    spo2_max: float
    respiratory_rate_min: float
    respiratory_rate_max: float
    source: Source


class VitalActions(_Frozen):
    normal: str
    watch: str
    pause: str
    stop: str
    source: Source

    def for_level(self, level: VitalLevel) -> str:
        return str(getattr(self, level.value))


class MonitoringSchedule(_Frozen):
    during_every_minutes: int = Field(ge=1)
    after_every_minutes: int = Field(ge=1)
    source: Source


class VitalRules(_Frozen):
    thresholds: dict[str, VitalThreshold]
    relative: dict[str, RelativeThreshold]
    plausible: VitalPlausible
    actions: VitalActions
    monitoring: MonitoringSchedule


# ----------------------------------------------------------------------------- discharge
class ScoreCutoff(_Frozen):
    min_score: int
    max_score: int
    source: Source


class NauseaRule(_Frozen):
    allowed: tuple[str, ...]
    choices: tuple[str, ...]
    source: Source


class DischargeVitals(_Frozen):
    max_level: VitalLevel
    source: Source


class DriverRule(_Frozen):
    min_phone_digits: int = Field(ge=1)
    source: Source


class DischargeRules(_Frozen):
    min_observation_minutes: SourcedValue
    aldrete: ScoreCutoff
    padss: ScoreCutoff
    nausea: NauseaRule
    vitals: DischargeVitals
    driver: DriverRule


class AftercareInstruction(_Frozen):
    text: str
    source: Source


class AftercareRules(_Frozen):
    clinic_phone_placeholder: str
    source: Source
    instructions: tuple[AftercareInstruction, ...]


# ----------------------------------------------------------------------------- all rules
class ClinicalRules(_Frozen):
    """Every clinical rule ketaflow applies, validated."""

    ceiling: Ceiling
    dosing_weight: DosingWeightRules
    pump: PumpRules
    protocols: dict[str, Protocol]
    screening: ScreeningRules
    scales: dict[str, Instrument]
    response: ResponseRule
    vitals: VitalRules
    discharge: DischargeRules
    aftercare: AftercareRules

    @model_validator(mode="after")
    def _protocols_below_ceiling(self) -> ClinicalRules:
        c = self.ceiling
        for key, p in self.protocols.items():
            pairs = (
                (p.limits.dose_mg_per_kg.hard_max, c.dose_mg_per_kg.value, "dose_mg_per_kg"),
                (p.limits.rate_mg_per_kg_per_h.hard_max, c.rate_mg_per_kg_per_h.value, "rate"),
                (p.limits.total_mg.hard_max, c.total_mg.value, "total_mg"),
            )
            for hard_max, ceiling, what in pairs:
                if hard_max > ceiling:
                    raise ValueError(
                        f"protocol {key}: hard maximum {what} {hard_max} is above the "
                        f"absolute ceiling {ceiling}"
                    )
        return self

    def protocol(self, key: str) -> Protocol:
        """Return the protocol named ``key`` or raise InvalidInput listing the known ones."""
        try:
            return self.protocols[key]
        except KeyError:
            known = ", ".join(sorted(self.protocols))
            raise InvalidInput(f"Unknown protocol '{key}'; choose one of: {known}.") from None

    def instrument(self, key: str) -> Instrument:
        """Return the rating scale named ``key`` or raise InvalidInput."""
        norm = key.strip().lower().replace("_", "-")
        aliases = {"qids": "qids-sr16", "qidssr16": "qids-sr16", "c-ssrs": "cssrs", "phq-9": "phq9"}
        norm = aliases.get(norm, norm)
        if norm == "gad-7":
            norm = "gad7"
        try:
            return self.scales[norm]
        except KeyError:
            known = ", ".join(sorted(self.scales))
            raise InvalidInput(f"Unknown questionnaire '{key}'; choose one of: {known}.") from None


def _read_packaged() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    folder = resources.files("ketaflow.clinical").joinpath("rules")
    for name in RULE_FILES:
        data = tomllib.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        merged = _deep_merge(merged, data)
    return merged


def packaged_rules_raw() -> dict[str, Any]:
    """Return the packaged rule files merged into one plain mapping (for audits and tests)."""
    return _read_packaged()


@lru_cache(maxsize=1)
def default_rules() -> ClinicalRules:
    """Return the packaged default rules, validated (cached)."""
    return _validate(_read_packaged())


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(data: Mapping[str, Any]) -> ClinicalRules:
    try:
        return ClinicalRules.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"Clinic rules are not valid at '{where}': {first['msg']}.") from None


def apply_overrides(base: ClinicalRules, override: Mapping[str, Any] | str | None) -> ClinicalRules:
    """Return ``base`` with a clinic's override (mapping or TOML text) merged in and validated.

    Tables merge key by key; any other value (numbers, lists) replaces the default. A ceiling
    value may be lowered but never raised above the packaged default, and every protocol's hard
    maximum must stay at or below the resulting ceiling; otherwise InvalidInput is raised.
    """
    if override is None:
        return base
    if isinstance(override, str):
        try:
            override = tomllib.loads(override)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"Clinic rules file is not valid TOML: {exc}.") from None
    merged = _deep_merge(base.model_dump(mode="json"), override)
    rules = _validate(merged)
    packaged = default_rules().ceiling
    for field in ("dose_mg_per_kg", "rate_mg_per_kg_per_h", "total_mg"):
        new = getattr(rules.ceiling, field).value
        limit = getattr(packaged, field).value
        if new > limit:
            raise InvalidInput(
                f"A clinic override cannot raise the absolute ceiling {field} above {limit:g}."
            )
    return rules


def load_rules(override: Mapping[str, Any] | str | None = None) -> ClinicalRules:
    """Return the default rules with an optional clinic override applied."""
    return apply_overrides(default_rules(), override)
