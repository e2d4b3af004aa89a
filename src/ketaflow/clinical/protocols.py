"""Treatment protocols: the series plan and titration for non-response with good tolerance."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ketaflow.clinical.rules import ClinicalRules, Protocol, default_rules
from ketaflow.errors import InvalidInput


@dataclass(frozen=True)
class ProtocolSummary:
    """What a prescriber sees when choosing a protocol."""

    key: str
    name: str
    kind: str
    indication: str
    dose_mg_per_kg: float
    minutes: float
    infusions: int
    per_week_min: int
    per_week_max: int
    min_interval_hours: float
    over_days: int
    source: str
    series_source: str


@dataclass(frozen=True)
class TitrationAdvice:
    """The next dose in a titration, with the reason."""

    next_dose_mg_per_kg: float
    changed: bool
    reason: str
    source: str


def list_protocols(rules: ClinicalRules | None = None) -> list[ProtocolSummary]:
    """Return every protocol in the (clinic's) rules, in file order."""
    rules = rules or default_rules()
    return [summarise(key, p) for key, p in rules.protocols.items()]


def summarise(key: str, p: Protocol) -> ProtocolSummary:
    """Return the prescriber-facing summary of one protocol."""
    return ProtocolSummary(
        key=key,
        name=p.name,
        kind=p.kind,
        indication=p.indication,
        dose_mg_per_kg=p.default_dose_mg_per_kg,
        minutes=p.default_minutes,
        infusions=p.series.infusions,
        per_week_min=p.series.per_week_min,
        per_week_max=p.series.per_week_max,
        min_interval_hours=p.series.min_interval_hours,
        over_days=p.series.over_days,
        source=p.source,
        series_source=p.series.source,
    )


def check_interval(protocol: str, hours_since_last: float, rules: ClinicalRules | None = None) -> str | None:
    """Return a message if the next infusion comes sooner than the protocol allows, else None."""
    rules = rules or default_rules()
    series = rules.protocol(protocol).series
    if not math.isfinite(hours_since_last):
        raise InvalidInput(f"Hours since the last infusion must be a number; got {hours_since_last:g}.")
    if hours_since_last < 0:
        raise InvalidInput(f"Hours since the last infusion cannot be negative; got {hours_since_last:g}.")
    if hours_since_last < series.min_interval_hours:
        return (
            f"Only {hours_since_last:g} h since the last infusion; this protocol spaces infusions "
            f"at least {series.min_interval_hours:g} h apart."
        )
    return None


def next_titration_dose(
    current_dose_mg_per_kg: float,
    *,
    baseline_score: float,
    latest_score: float,
    infusions_at_current_dose: int,
    tolerated: bool,
    protocol: str = "depression-titration",
    rules: ClinicalRules | None = None,
) -> TitrationAdvice:
    """Advise the next dose: step up only for non-response with good tolerance.

    Non-response is a reduction from baseline smaller than the plan's response fraction after
    at least ``assess_after_infusions`` infusions at the current dose. The dose never steps
    past the last step of the plan (which the rules keep below the absolute ceiling).
    """
    rules = rules or default_rules()
    plan = rules.protocol(protocol).titration
    if plan is None:
        raise InvalidInput(f"Protocol '{protocol}' has no titration plan.")
    values = (current_dose_mg_per_kg, baseline_score, latest_score)
    if not all(math.isfinite(v) for v in values):
        raise InvalidInput("The current dose and both scores must be numbers.")
    if not current_dose_mg_per_kg > 0:
        raise InvalidInput(f"The current dose must be above 0 mg/kg; got {current_dose_mg_per_kg:g}.")
    if baseline_score <= 0:
        raise InvalidInput("A titration needs a baseline score above 0 to judge response.")
    if latest_score < 0:
        raise InvalidInput(f"The latest score cannot be negative; got {latest_score:g}.")
    if infusions_at_current_dose < 0:
        raise InvalidInput("The number of infusions at the current dose cannot be negative.")
    steps = plan.steps_mg_per_kg
    reduction = (baseline_score - latest_score) / baseline_score
    stay = TitrationAdvice(current_dose_mg_per_kg, False, "", plan.source)
    if not tolerated:
        return _with(stay, "Not tolerated: do not step up; the psychiatrist reviews the dose.")
    if reduction >= plan.response_fraction:
        return _with(stay, f"Responding ({reduction:.0%} reduction): keep the current dose.")
    if infusions_at_current_dose < plan.assess_after_infusions:
        return _with(
            stay,
            f"Assess after {plan.assess_after_infusions} infusions at this dose "
            f"({infusions_at_current_dose} so far).",
        )
    higher = [s for s in steps if s > current_dose_mg_per_kg + 1e-9]
    if not higher:
        return _with(stay, f"Already at the plan's maximum of {steps[-1]:g} mg/kg: psychiatrist review.")
    return TitrationAdvice(
        higher[0],
        True,
        f"Non-response ({reduction:.0%} reduction) with good tolerance: step up to {higher[0]:g} mg/kg.",
        plan.source,
    )


def _with(advice: TitrationAdvice, reason: str) -> TitrationAdvice:
    return TitrationAdvice(advice.next_dose_mg_per_kg, advice.changed, reason, advice.source)
