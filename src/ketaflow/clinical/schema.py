"""The schema of the clinical rules: Pydantic models that validate the TOML rule files.

Every model that holds a number has a required ``source`` (author, year, journal or label, or
an explicit "source not found; clinic policy placeholder"). The base model lives in
:mod:`ketaflow.clinical.schema_base` and the rating scales in :mod:`ketaflow.clinical.scale_schema`
(each loadable alone); they are re-exported here, so this module names every rules model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ketaflow.clinical.levels import Route, ScreeningLevel, VitalLevel, WeightPolicy

# The rating scales and the base are re-exported ("as" names): callers import every model from here.
from ketaflow.clinical.scale_schema import Band as Band
from ketaflow.clinical.scale_schema import Instrument as Instrument
from ketaflow.clinical.scale_schema import ItemAlert as ItemAlert
from ketaflow.clinical.scale_schema import MissingRule as MissingRule
from ketaflow.clinical.scale_schema import Remission as Remission
from ketaflow.clinical.scale_schema import ResponseRule as ResponseRule
from ketaflow.clinical.scale_schema import Severity as Severity
from ketaflow.clinical.scale_schema import SkipRule as SkipRule
from ketaflow.clinical.scale_schema import find_instrument
from ketaflow.clinical.schema_base import Frozen as _Frozen
from ketaflow.clinical.schema_base import Source as Source
from ketaflow.clinical.schema_base import SourcedValue as SourcedValue
from ketaflow.errors import InvalidInput


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


class PositiveSourcedValue(SourcedValue):
    value: float = Field(gt=0)


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


class PumpRules(_Frozen):
    """The pump's drug-library entry for ketamine, as a smart pump holds it."""

    # A resolution of 0 would divide by zero when rounding; a negative one makes no sense.
    rate_resolution_ml_per_h: PositiveSourcedValue
    volume_resolution_ml: PositiveSourcedValue
    concentration_mg_per_ml: Limit
    min_volume_ml: PositiveSourcedValue
    max_duration_drift_fraction: PositiveSourcedValue

    @model_validator(mode="after")
    def _positive_concentration(self) -> PumpRules:
        low = self.concentration_mg_per_ml.hard_min
        if low is None or not low > 0:
            raise ValueError("the concentration range needs a hard_min above 0 mg/mL")
        return self


class ProtocolLimits(_Frozen):
    dose_mg_per_kg: Limit
    minutes: Limit
    rate_mg_per_kg_per_h: Limit
    total_mg: Limit
    # An absolute hourly cap (mg/h) where the protocol's trial had one (e.g. CRPS, 25 mg/h).
    rate_mg_per_h: Limit | None = None


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


class DeferRule(_Frozen):
    """Not startable today; the level itself is read from the in-infusion thresholds."""

    label: str
    advice: str
    source: Source


class ScreeningBloodPressure(_Frozen):
    review: BloodPressureCutoff
    expected_rise: BloodPressureCutoff
    defer: DeferRule


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
    # Routes this interaction matters for; empty means every route. For the other routes the
    # finding is shown at `information` level with `other_routes_note`.
    routes: tuple[Route, ...] = ()
    other_routes_note: str = ""


class AgeRule(ScreeningEntry):
    min_years: float = Field(gt=0)


class GuidanceRule(_Frozen):
    """Preparation advice every patient gets with the screening (e.g. fasting)."""

    text: str
    source: Source


class ScreeningRules(_Frozen):
    blood_pressure: ScreeningBloodPressure
    age: AgeRule
    pregnancy: dict[str, ScreeningEntry]
    guidance: dict[str, GuidanceRule]
    conditions: dict[str, ConditionRule]
    medications: dict[str, MedicationRule]

    @model_validator(mode="after")
    def _pregnancy_statuses(self) -> ScreeningRules:
        known = {"pregnant", "possible", "test_negative"}
        if set(self.pregnancy) != known:
            raise ValueError(f"screening.pregnancy must define exactly {sorted(known)}")
        return self


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


class SedationLevel(_Frozen):
    """One level of the sedation scale: its score and wording, and what it asks of the nurse."""

    score: int = Field(ge=0)
    wording: str = Field(min_length=3)
    depth: str
    level: VitalLevel
    action: str = ""


class SedationScale(_Frozen):
    """The sedation scale charted with the vitals (MOAA/S by default), highest (alert) first."""

    scale: str
    title: str
    source: Source
    levels: tuple[SedationLevel, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _whole_scale(self) -> SedationScale:
        scores = sorted(lv.score for lv in self.levels)
        if scores != list(range(len(scores))):
            raise ValueError("sedation levels must be the scores 0 to n, each once")
        for lv in self.levels:
            if lv.level is not VitalLevel.NORMAL and not lv.action.strip():
                raise ValueError(f"sedation level {lv.score} raises an alert and needs its action")
        return self

    @property
    def max_score(self) -> int:
        return max(lv.score for lv in self.levels)

    def level(self, score: int) -> SedationLevel:
        """The level with this score (the caller has checked the score is on the scale)."""
        return next(lv for lv in self.levels if lv.score == score)


ExpectedField = Literal["bp", "heart_rate", "spo2", "respiratory_rate", "sedation"]


class ExpectedReadings(_Frozen):
    """Readings expected in every set of vitals charted in the given phases."""

    fields: tuple[ExpectedField, ...]
    phases: tuple[Literal["baseline", "infusion", "recovery"], ...]
    level: VitalLevel
    missing: dict[ExpectedField, str]
    actions: dict[ExpectedField, str]
    source: Source

    @model_validator(mode="after")
    def _worded(self) -> ExpectedReadings:
        for name in self.fields:
            if not self.missing.get(name) or not self.actions.get(name):
                raise ValueError(f"expected reading '{name}' needs its missing message and its action")
        return self


class PauseConfirmation(_Frozen):
    """A pause for these parameters needs a second reading within the window, or symptoms."""

    parameters: tuple[str, ...] = Field(min_length=1)
    recheck_minutes: float = Field(gt=0)
    window_minutes: float = Field(gt=0)
    recheck_action: str
    symptoms: tuple[str, ...]
    source: Source

    @model_validator(mode="after")
    def _window(self) -> PauseConfirmation:
        if self.window_minutes < self.recheck_minutes:
            raise ValueError("the confirmation window must be at least as long as the recheck time")
        return self


class VitalRules(_Frozen):
    thresholds: dict[str, VitalThreshold]
    relative: dict[str, RelativeThreshold]
    plausible: VitalPlausible
    actions: VitalActions
    monitoring: MonitoringSchedule
    sedation: SedationScale
    expected: ExpectedReadings
    confirmation: PauseConfirmation


# ----------------------------------------------------------------------------- discharge
class ScoreCutoff(_Frozen):
    min_score: int
    max_score: int
    source: Source


class NauseaRule(_Frozen):
    allowed: tuple[str, ...]
    choices: tuple[str, ...]
    source: Source


class DischargeBloodPressure(_Frozen):
    """The blood pressure a patient goes home with (tighter than the in-infusion pause level)."""

    min_systolic_mm_hg: float
    max_systolic_mm_hg: float
    max_diastolic_mm_hg: float
    source: Source


class DischargeVitals(_Frozen):
    max_level: VitalLevel
    source: Source
    blood_pressure: DischargeBloodPressure


class DriverRule(_Frozen):
    min_phone_digits: int = Field(ge=1)
    source: Source


class DischargeSedation(_Frozen):
    min_score: int = Field(ge=0)
    source: Source


class ChoiceCriterion(_Frozen):
    """A discharge criterion the nurse answers from a short list of choices."""

    choices: tuple[str, ...] = Field(min_length=2)
    allowed: tuple[str, ...] = Field(min_length=1)
    label: str
    unmet: str  # the reason and what to do, when the answer is not an allowed one
    missing: str  # what to do when it has not been answered
    source: Source

    @model_validator(mode="after")
    def _allowed_are_choices(self) -> ChoiceCriterion:
        if not set(self.allowed) <= set(self.choices):
            raise ValueError("the allowed answers must be among the choices")
        return self


class SuicidalIdeationRule(ChoiceCriterion):
    instrument: str
    questions: tuple[str, ...] = Field(min_length=1)
    cleared: str  # shown when the psychiatrist has assessed and discharges with ideation present


class DischargeRules(_Frozen):
    min_observation_minutes: SourcedValue
    aldrete: ScoreCutoff
    padss: ScoreCutoff
    nausea: NauseaRule
    vitals: DischargeVitals
    driver: DriverRule
    sedation: DischargeSedation
    mental_status: ChoiceCriterion
    suicidal_ideation: SuicidalIdeationRule


class AftercareInstruction(_Frozen):
    text: str
    source: Source


class AftercareRules(_Frozen):
    clinic_phone_placeholder: str
    source: Source
    instructions: tuple[AftercareInstruction, ...]


# ----------------------------------------------------------------------------- maintenance
class MonitoringRule(_Frozen):
    """A periodic check for patients on maintenance (e.g. liver tests, bladder symptoms)."""

    label: str
    reason: str
    interval_days: int = Field(ge=1)
    grace_days: int = Field(ge=0)
    source: Source
    interval_source: Source


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
    monitoring: dict[str, MonitoringRule]

    @model_validator(mode="after")
    def _discharge_sedation_on_the_scale(self) -> ClinicalRules:
        if self.discharge.sedation.min_score > self.vitals.sedation.max_score:
            raise ValueError("the discharge sedation level must be a level of the sedation scale")
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
        return find_instrument(self.scales, key)
