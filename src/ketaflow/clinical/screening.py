"""Screening at consultation: contraindications and interacting medications and substances."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ketaflow.clinical.levels import ScreeningLevel
from ketaflow.clinical.matching import match_text
from ketaflow.clinical.rules import ClinicalRules, ScreeningEntry, default_rules
from ketaflow.clinical.vitals import BloodPressure

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
class ScreeningResult:
    """All findings, most serious first, and the overall level."""

    level: ScreeningLevel
    findings: tuple[Finding, ...]


def _finding(item: str, key: str, entry: ScreeningEntry, note: str = "") -> Finding:
    return Finding(entry.level, item, entry.label + note, entry.reason, entry.advice, entry.source, key)


def screen(
    *,
    conditions: Iterable[str] = (),
    medications: Iterable[str] = (),
    blood_pressure: BloodPressure | None = None,
    rules: ClinicalRules | None = None,
) -> ScreeningResult:
    """Screen conditions and medication strings (generic, brand or class names, any spelling).

    Anything not recognised becomes an ``information`` finding, so nothing the patient wrote is
    silently dropped.
    """
    rules = rules or default_rules()
    s = rules.screening
    findings = _match_all(
        conditions, s.conditions, {k: v.aliases for k, v in s.conditions.items()}, "condition"
    )
    findings += _match_all(
        medications,
        s.medications,
        {k: v.names for k, v in s.medications.items()},
        "medication or substance",
    )
    if blood_pressure is not None:
        bp_finding = _screen_bp(blood_pressure, rules)
        if bp_finding is not None:
            findings.append(bp_finding)
    findings.sort(key=lambda f: -f.level.rank)
    level = findings[0].level if findings else ScreeningLevel.CLEAR
    return ScreeningResult(level, tuple(findings))


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


def _screen_bp(bp: BloodPressure, rules: ClinicalRules) -> Finding | None:
    cut = rules.screening.blood_pressure
    hi = cut.contraindicated
    if bp.systolic_mm_hg > hi.systolic_mm_hg or bp.diastolic_mm_hg > hi.diastolic_mm_hg:
        return Finding(
            ScreeningLevel.CONTRAINDICATED,
            str(bp),
            f"Blood pressure above {hi.systolic_mm_hg:g}/{hi.diastolic_mm_hg:g}",
            f"Blood pressure {bp} mmHg is in the hypertensive-crisis range.",
            "No infusion today; the psychiatrist assesses the patient now.",
            hi.source,
            "blood_pressure",
        )
    rv = cut.review
    if bp.systolic_mm_hg > rv.systolic_mm_hg or bp.diastolic_mm_hg > rv.diastolic_mm_hg:
        return Finding(
            ScreeningLevel.PSYCHIATRIST_REVIEW,
            str(bp),
            f"Blood pressure above {rv.systolic_mm_hg:g}/{rv.diastolic_mm_hg:g}",
            f"Blood pressure {bp} mmHg is above {rv.systolic_mm_hg:g}/{rv.diastolic_mm_hg:g}; "
            "ketamine raises it further.",
            "Recheck after more than 5 minutes of seated rest; the psychiatrist decides whether to "
            "delay treatment.",
            f"{rv.source}; {_BP_RECHECK_SOURCE}",
            "blood_pressure",
        )
    return None
