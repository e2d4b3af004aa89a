"""Screening at consultation: contraindications and interacting medications and substances."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from ketaflow.clinical.levels import PregnancyStatus, Route, ScreeningLevel, VitalLevel
from ketaflow.clinical.matching import match_text
from ketaflow.clinical.rules import ClinicalRules, ScreeningEntry, default_rules
from ketaflow.clinical.schema import MedicationRule
from ketaflow.clinical.vitals import BloodPressure, bp_level
from ketaflow.errors import InvalidInput

_UNLISTED_SOURCE = "ketaflow screening list (no entry matched); the psychiatrist confirms by hand"

# The recheck advice for a raised pre-infusion reading: the guideline's seated rest before a
# blood-pressure measurement.
_BP_RECHECK_SOURCE = (
    "rest before the recheck: Whelton PK et al., 2017 ACC/AHA hypertension guideline, "
    "J Am Coll Cardiol 2018;71:e127-e248 (accurate BP measurement: sit quietly for more than 5 min)"
)


@dataclass(frozen=True)
class Finding:
    """One screening finding: what the patient wrote, what it matched, and what to do."""

    level: ScreeningLevel
    item: str
    matched: str
    reason: str
    advice: str
    source: str
    rule: str


@dataclass(frozen=True)
class Guidance:
    """Preparation advice every patient gets with the screening (e.g. fasting), with its source."""

    rule: str
    text: str
    source: str


@dataclass(frozen=True)
class ScreeningResult:
    """All findings, most serious first, the overall level, and the preparation guidance."""

    level: ScreeningLevel
    findings: tuple[Finding, ...]
    guidance: tuple[Guidance, ...] = ()


def _finding(item: str, key: str, entry: ScreeningEntry, note: str = "") -> Finding:
    return Finding(entry.level, item, entry.label + note, entry.reason, entry.advice, entry.source, key)


def parse_pregnancy_status(text: str | None) -> PregnancyStatus | None:
    """'possible' -> PregnancyStatus.POSSIBLE; blank -> None (not asked); else one plain sentence."""
    value = (text or "").strip().lower().replace(" ", "_").replace("-", "_")
    if not value:
        return None
    try:
        return PregnancyStatus(value)
    except ValueError:
        choices = ", ".join(p.value for p in PregnancyStatus)
        raise InvalidInput(f"Pregnancy status must be one of {choices}; got '{text}'.") from None


def parse_route(text: str | None) -> Route:
    """'oral' -> Route.ORAL; blank -> IV (the clinic's route); else one plain sentence."""
    value = (text or "").strip().lower()
    if not value:
        return Route.IV
    try:
        return Route(value)
    except ValueError:
        choices = ", ".join(r.value for r in Route)
        raise InvalidInput(f"The route must be one of {choices}; got '{text}'.") from None


def screen(
    *,
    conditions: Iterable[str] = (),
    medications: Iterable[str] = (),
    blood_pressure: BloodPressure | None = None,
    age_years: float | None = None,
    pregnancy: PregnancyStatus | None = None,
    route: Route = Route.IV,
    rules: ClinicalRules | None = None,
) -> ScreeningResult:
    """Screen conditions and medication strings (generic, brand or class names, any spelling).

    Anything not recognised becomes an ``information`` finding, so nothing the patient wrote is
    silently dropped. Interactions that matter only for some routes (e.g. CYP3A4 inhibitors for
    oral ketamine) are ``information`` for the other routes. ``age_years`` and ``pregnancy`` are
    screened when given; the fasting guidance comes with every result.
    """
    rules = rules or default_rules()
    s = rules.screening
    findings = _match_all(
        conditions, s.conditions, {k: v.aliases for k, v in s.conditions.items()}, "condition"
    )
    findings += [
        _for_route(f, s.medications.get(f.rule), route)
        for f in _match_all(
            medications,
            s.medications,
            {k: v.names for k, v in s.medications.items()},
            "medication or substance",
        )
    ]
    if blood_pressure is not None:
        bp_finding = pre_infusion_bp(blood_pressure, rules)
        if bp_finding is not None:
            findings.append(bp_finding)
    if age_years is not None and age_years < s.age.min_years:
        findings.append(_finding(f"age {age_years:g}", "age", s.age))
    if pregnancy is not None and pregnancy is not PregnancyStatus.NOT_APPLICABLE:
        findings.append(
            _finding(pregnancy.value.replace("_", " "), "pregnancy_status", s.pregnancy[pregnancy.value])
        )
    findings.sort(key=lambda f: -f.level.rank)
    level = findings[0].level if findings else ScreeningLevel.CLEAR
    guidance = tuple(Guidance(k, g.text, g.source) for k, g in s.guidance.items())
    return ScreeningResult(level, tuple(findings), guidance)


def _for_route(f: Finding, rule: MedicationRule | None, route: Route) -> Finding:
    """A route-specific interaction is information only for the other routes, with the reason why."""
    if rule is None or not rule.routes or route in rule.routes:
        return f
    return replace(
        f,
        level=ScreeningLevel.INFORMATION,
        reason=f"{f.reason} {rule.other_routes_note} (Route screened: {route.value}.)",
    )


def _match_all(
    texts: Iterable[str],
    entries: Mapping[str, ScreeningEntry],
    names: Mapping[str, Iterable[str]],
    what: str,
) -> list[Finding]:
    """Return a finding for every rule each text names, or an 'unlisted' one if it names none."""
    findings: list[Finding] = []
    for text in texts:
        if not text.strip():
            continue
        matches = match_text(text, names)
        for m in matches:
            note = "" if m.exact else f" (read '{m.read_as}' as '{m.name}')"
            findings.append(_finding(text, m.key, entries[m.key], note))
        if not matches:
            findings.append(_unlisted(text, what))
    return findings


def _unlisted(text: str, what: str) -> Finding:
    return Finding(
        ScreeningLevel.INFORMATION,
        text,
        f"Not on ketaflow's {what} list",
        f"'{text}' did not match any {what} ketaflow screens for.",
        "The psychiatrist checks it by hand.",
        _UNLISTED_SOURCE,
        "unlisted",
    )


def _shown(bp: BloodPressure) -> str:
    return f"{bp.systolic_mm_hg}/{bp.diastolic_mm_hg}"


def pre_infusion_bp(bp: BloodPressure, rules: ClinicalRules | None = None) -> Finding | None:
    """Judge a blood pressure taken before an infusion (or at the consultation).

    - at a level that would stop a running infusion: contraindicated today (the psychiatrist
      assesses now);
    - at a level that would pause a running infusion: DEFER, not startable today;
    both levels are read from the in-infusion thresholds, so the two rules cannot disagree;
    - above the review cut-off: the psychiatrist decides, told where the typical rise leads.
    """
    rules = rules or default_rules()
    cut = rules.screening.blood_pressure
    level, alerts = bp_level(bp, rules)
    if level.rank >= VitalLevel.PAUSE.rank:
        serious = [a for a in alerts if a.level is level]
        limits = "; ".join(a.message for a in serious)
        d = cut.defer
        if level is VitalLevel.STOP:
            return Finding(
                ScreeningLevel.CONTRAINDICATED,
                str(bp),
                "Blood pressure at the level that stops an infusion",
                f"Blood pressure {bp} mmHg would stop a running infusion ({limits})",
                "No infusion today; the psychiatrist assesses the patient now.",
                f"{d.source}; thresholds: {serious[0].source}",
                "blood_pressure",
            )
        return Finding(
            ScreeningLevel.DEFER,
            str(bp),
            d.label,
            f"Blood pressure {bp} mmHg would pause a running infusion ({limits})",
            d.advice,
            f"{d.source}; thresholds: {serious[0].source}",
            "blood_pressure",
        )
    rv = cut.review
    if bp.systolic_mm_hg > rv.systolic_mm_hg or bp.diastolic_mm_hg > rv.diastolic_mm_hg:
        rise = cut.expected_rise
        peak = BloodPressure(
            round(bp.systolic_mm_hg + rise.systolic_mm_hg), round(bp.diastolic_mm_hg + rise.diastolic_mm_hg)
        )
        return Finding(
            ScreeningLevel.PSYCHIATRIST_REVIEW,
            str(bp),
            f"Blood pressure above {rv.systolic_mm_hg:g}/{rv.diastolic_mm_hg:g}",
            f"Blood pressure {bp} mmHg is above {rv.systolic_mm_hg:g}/{rv.diastolic_mm_hg:g}; "
            f"with the typical rise of {rise.systolic_mm_hg:g}/{rise.diastolic_mm_hg:g} mmHg during "
            f"an infusion it would reach about {_shown(peak)}.",
            "Recheck after more than 5 minutes of seated rest; the psychiatrist decides whether to "
            "delay treatment.",
            f"{rv.source}; typical rise: {rise.source}; {_BP_RECHECK_SOURCE}",
            "blood_pressure",
        )
    return None
