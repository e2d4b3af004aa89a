"""Vital-sign alerts: classify a reading, absolutely and against the patient's baseline."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ketaflow.clinical.levels import VitalLevel
from ketaflow.clinical.rules import ClinicalRules, RelativeThreshold, VitalThreshold, default_rules
from ketaflow.errors import InvalidInput, Problems

_BP = re.compile(r"^\s*(\d{2,3})\s*/\s*(\d{2,3})\s*$")


@dataclass(frozen=True)
class BloodPressure:
    """A blood pressure in mmHg."""

    systolic_mm_hg: int
    diastolic_mm_hg: int

    def __str__(self) -> str:
        return f"{self.systolic_mm_hg}/{self.diastolic_mm_hg}"


@dataclass(frozen=True)
class VitalSigns:
    """One set of vital signs; any may be missing. `sedation_score` is the sedation scale's level
    (MOAA/S by default: 5 alert ... 0 unresponsive)."""

    bp: BloodPressure | None = None
    heart_rate_per_min: float | None = None
    spo2_percent: float | None = None
    respiratory_rate_per_min: float | None = None
    sedation_score: int | None = None


@dataclass(frozen=True)
class VitalAlert:
    """One reading that crossed a threshold, or an expected reading that is missing (value None).

    `action` is what this alert in particular asks of the nurse, beside the level's general action.
    `message` is the whole sentence: `finding` (what was measured) and, in full, what to do
    (see `alert_sentence`).
    """

    parameter: str
    value: float | None
    level: VitalLevel
    message: str
    source: str
    action: str | None = None
    finding: str = ""


@dataclass(frozen=True)
class VitalAssessment:
    """The overall level of a set of vitals, its alerts and the recommended actions.

    ``recheck_in_minutes`` is set when a blood-pressure reading is at the pause level but not
    yet confirmed (by a second reading within the window, or symptoms): recheck, do not pause.
    """

    level: VitalLevel
    alerts: tuple[VitalAlert, ...]
    actions: tuple[str, ...]
    recheck_in_minutes: float | None = None


@dataclass(frozen=True)
class EarlierReading:
    """A reading taken ``minutes_before`` the one being assessed, in the same infusion."""

    minutes_before: float
    vitals: VitalSigns


def alert_sentence(finding: str, level: VitalLevel, rules: ClinicalRules, action: str | None = None) -> str:
    """The alert as the nurse reads it: the finding, then what to do in full.

    What to do is the alert's own action when it has one (a sedation level, a missing reading,
    the blood-pressure recheck), else its level's action in the rules (`[vitals.actions]`): one
    place for the wording, so "...is high: stop." can never again leave out what to stop.
    """
    todo = (action or rules.vitals.actions.for_level(level)).strip()
    return f"{finding}: {todo[:1].lower()}{todo[1:]}"


def _alert(
    parameter: str,
    value: float | None,
    level: VitalLevel,
    finding: str,
    source: str,
    rules: ClinicalRules,
    action: str | None = None,
) -> VitalAlert:
    return VitalAlert(
        parameter, value, level, alert_sentence(finding, level, rules, action), source, action, finding
    )


def parse_bp(text: str, rules: ClinicalRules | None = None) -> BloodPressure:
    """Parse '128/82' into a BloodPressure, or raise InvalidInput with a plain sentence."""
    m = _BP.match(text or "")
    if not m:
        raise InvalidInput(f"Blood pressure must be written systolic/diastolic, like 128/82; got '{text}'.")
    return checked_bp(int(m.group(1)), int(m.group(2)), rules)


def checked_bp(systolic: int, diastolic: int, rules: ClinicalRules | None = None) -> BloodPressure:
    """A blood pressure within the range that can be measured, diastolic below systolic (typed,
    or sent by a monitor), or InvalidInput with a plain sentence."""
    p = (rules or default_rules()).vitals.plausible
    text = f"{systolic}/{diastolic}"
    if not (p.systolic_min <= systolic <= p.systolic_max and p.diastolic_min <= diastolic <= p.diastolic_max):
        raise InvalidInput(f"Blood pressure {text} is outside the range that can be measured; check it.")
    if diastolic >= systolic:
        raise InvalidInput(f"Blood pressure {text}: the diastolic must be lower than the systolic.")
    return BloodPressure(systolic, diastolic)


def _plausible(name: str, value: float | None, lo: float, hi: float, unit: str) -> None:
    if value is None:
        return
    if not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidInput(f"{name} must be between {lo:g} and {hi:g} {unit}; got {value:g}.")


def check_plausible(vitals: VitalSigns, rules: ClinicalRules | None = None) -> None:
    """Refuse readings outside the range that can be measured: every one at once (InvalidFields),
    each tagged with its field (heart_rate, spo2, respiratory_rate, sedation)."""
    rules = rules or default_rules()
    p = rules.vitals.plausible
    found = Problems()
    found.check(
        lambda: _plausible(
            "Heart rate", vitals.heart_rate_per_min, p.heart_rate_min, p.heart_rate_max, "beats/min"
        ),
        "heart_rate",
    )
    found.check(lambda: _plausible("SpO2", vitals.spo2_percent, p.spo2_min, p.spo2_max, "%"), "spo2")
    found.check(
        lambda: _plausible(
            "Respiratory rate",
            vitals.respiratory_rate_per_min,
            p.respiratory_rate_min,
            p.respiratory_rate_max,
            "breaths/min",
        ),
        "respiratory_rate",
    )
    found.check(lambda: check_sedation(vitals.sedation_score, rules), "sedation")
    found.raise_any()


def check_sedation(score: float | None, rules: ClinicalRules | None = None) -> None:
    """Refuse a sedation level that is not a whole number on the scale, in one sentence."""
    if score is None:
        return
    scale = (rules or default_rules()).vitals.sedation
    whole = not isinstance(score, bool) and math.isfinite(score) and float(score).is_integer()
    if not whole or not 0 <= score <= scale.max_score:
        raise InvalidInput(
            f"Sedation ({scale.scale}) must be a whole number from 0 to {scale.max_score}; got {score:g}."
        )


def _sedation_alert(score: int, rules: ClinicalRules) -> VitalAlert | None:
    scale = rules.vitals.sedation
    lv = scale.level(int(score))
    if lv.level is VitalLevel.NORMAL:
        return None
    finding = f"Sedation {scale.scale} {lv.score} ({lv.wording})"
    return _alert("sedation", lv.score, lv.level, finding, scale.source, rules, lv.action or None)


def _missing_alerts(vitals: VitalSigns, phase: str | None, rules: ClinicalRules) -> list[VitalAlert]:
    expected = rules.vitals.expected
    if phase is None or phase not in expected.phases:
        return []
    present = {
        "bp": vitals.bp,
        "heart_rate": vitals.heart_rate_per_min,
        "spo2": vitals.spo2_percent,
        "respiratory_rate": vitals.respiratory_rate_per_min,
        "sedation": vitals.sedation_score,
    }
    return [
        _alert(
            f"{name}_missing",
            None,
            expected.level,
            expected.missing[name],
            expected.source,
            rules,
            expected.actions[name],
        )
        for name in expected.fields
        if present[name] is None
    ]


def _level_for(value: float, t: VitalThreshold) -> VitalLevel:
    high = t.direction == "high"
    for level, bound in ((VitalLevel.STOP, t.stop), (VitalLevel.PAUSE, t.pause), (VitalLevel.WATCH, t.watch)):
        if bound is not None and (value >= bound if high else value <= bound):
            return level
    return VitalLevel.NORMAL


def _relative_level(rise: float, t: RelativeThreshold) -> VitalLevel:
    for level, bound in ((VitalLevel.STOP, t.stop), (VitalLevel.PAUSE, t.pause), (VitalLevel.WATCH, t.watch)):
        if bound is not None and rise >= bound:
            return level
    return VitalLevel.NORMAL


def classify_vitals(
    vitals: VitalSigns,
    *,
    baseline: VitalSigns | None = None,
    rules: ClinicalRules | None = None,
    phase: str | None = None,
) -> VitalAssessment:
    """Classify a set of vitals: normal, watch, pause the infusion, or stop and call.

    `phase` is when the set was taken (baseline, infusion, recovery): in the phases the rules
    list under `vitals.expected`, a missing expected reading (SpO2, the sedation level) raises
    its own alert, so a set charted without it shows the gap and what to do.
    """
    rules = rules or default_rules()
    v = rules.vitals
    check_plausible(vitals, rules)
    readings: list[tuple[str, float | None]] = [
        ("systolic_high", vitals.bp.systolic_mm_hg if vitals.bp else None),
        ("systolic_low", vitals.bp.systolic_mm_hg if vitals.bp else None),
        ("diastolic_high", vitals.bp.diastolic_mm_hg if vitals.bp else None),
        ("heart_rate_high", vitals.heart_rate_per_min),
        ("heart_rate_low", vitals.heart_rate_per_min),
        ("spo2_low", vitals.spo2_percent),
        ("respiratory_rate_low", vitals.respiratory_rate_per_min),
        ("respiratory_rate_high", vitals.respiratory_rate_per_min),
    ]
    alerts: list[VitalAlert] = []
    for key, value in readings:
        t = v.thresholds.get(key)
        if t is None or value is None:
            continue
        level = _level_for(value, t)
        if level is not VitalLevel.NORMAL:
            word = "high" if t.direction == "high" else "low"
            finding = f"{t.label} {value:g} {t.unit} is {word}"
            alerts.append(_alert(key, value, level, finding, t.source, rules))
    if vitals.sedation_score is not None:
        sedated = _sedation_alert(vitals.sedation_score, rules)
        alerts += [sedated] if sedated is not None else []
    if baseline is not None:
        alerts += _relative_alerts(vitals, baseline, rules)
    alerts += _missing_alerts(vitals, phase, rules)
    level = max((a.level for a in alerts), key=lambda lv: lv.rank, default=VitalLevel.NORMAL)
    actions = [v.actions.for_level(level)]
    for alert in alerts:
        if alert.action and alert.action not in actions:
            actions.append(alert.action)
    return VitalAssessment(level, tuple(alerts), tuple(actions))


def _relative_alerts(vitals: VitalSigns, baseline: VitalSigns, rules: ClinicalRules) -> list[VitalAlert]:
    out: list[VitalAlert] = []
    pairs: list[tuple[str, float | None, float | None]] = [
        (
            "systolic_rise",
            vitals.bp.systolic_mm_hg if vitals.bp else None,
            baseline.bp.systolic_mm_hg if baseline.bp else None,
        ),
        ("heart_rate_rise", vitals.heart_rate_per_min, baseline.heart_rate_per_min),
    ]
    for key, now, base in pairs:
        t = rules.vitals.relative.get(key)
        if t is None or now is None or base is None or base <= 0:
            continue
        rise = (now - base) / base
        level = _relative_level(rise, t)
        if level is not VitalLevel.NORMAL:
            finding = f"{t.label}: {base:g} -> {now:g} ({rise:+.0%})"
            out.append(_alert(key, round(rise, 4), level, finding, t.source, rules))
    return out


def confirming_symptom(text: str, rules: ClinicalRules | None = None) -> str:
    """The rules' name of a symptom that confirms a blood-pressure pause ('blurred vision' ->
    'blurred_vision'), or InvalidInput naming the ones that do."""
    kinds = (rules or default_rules()).vitals.confirmation.symptoms
    name = re.sub(r"[\s-]+", "_", (text or "").strip().lower())
    if name not in kinds:
        listed = ", ".join(kinds[:-1]) + f" or {kinds[-1]}" if len(kinds) > 1 else kinds[0]
        raise InvalidInput(f"Symptom '{text}' does not confirm a blood-pressure pause; give {listed}.")
    return name


def _needs_confirmation(alerts: Sequence[VitalAlert], rules: ClinicalRules) -> bool:
    """True when the worst level is PAUSE and every pause comes from a parameter that needs confirming."""
    confirm = set(rules.vitals.confirmation.parameters)
    pausing = [a for a in alerts if a.level is VitalLevel.PAUSE]
    stopping = [a for a in alerts if a.level is VitalLevel.STOP]
    return bool(pausing) and not stopping and all(a.parameter in confirm for a in pausing)


def _confirmed_earlier(
    earlier: Sequence[EarlierReading], baseline: VitalSigns | None, rules: ClinicalRules
) -> bool:
    window = rules.vitals.confirmation.window_minutes
    confirm = set(rules.vitals.confirmation.parameters)
    for e in earlier:
        if not 0 <= e.minutes_before <= window:
            continue
        past = classify_vitals(e.vitals, baseline=baseline, rules=rules)
        if any(a.parameter in confirm and a.level.rank >= VitalLevel.PAUSE.rank for a in past.alerts):
            return True
    return False


def assess_infusion_reading(
    vitals: VitalSigns,
    *,
    baseline: VitalSigns | None = None,
    earlier: Sequence[EarlierReading] = (),
    symptoms: bool = False,
    rules: ClinicalRules | None = None,
    phase: str | None = "infusion",
) -> VitalAssessment:
    """Classify a reading taken while the infusion runs, with the blood-pressure confirmation rule.

    One cuff value at the blood-pressure pause level asks for a recheck (level ``watch``, with
    ``recheck_in_minutes``); a second reading at that level within the window, or symptoms,
    confirms the pause. Stop-level readings and other parameters are not held back.
    """
    rules = rules or default_rules()
    result = classify_vitals(vitals, baseline=baseline, rules=rules, phase=phase)
    if not _needs_confirmation(result.alerts, rules):
        return result
    if symptoms or _confirmed_earlier(earlier, baseline, rules):
        return result
    c = rules.vitals.confirmation
    action = c.recheck_action.format(minutes=c.recheck_minutes, window=c.window_minutes)
    # The recheck replaces the pause's action; each alert's own action (a missing SpO2, say) stays.
    # The blood-pressure alerts waiting for confirmation say the recheck, not "pause".
    held = set(c.parameters)
    alerts = tuple(
        _alert(a.parameter, a.value, a.level, a.finding, a.source, rules, action)
        if a.level is VitalLevel.PAUSE and a.parameter in held
        else a
        for a in result.alerts
    )
    return replace(
        result,
        alerts=alerts,
        level=VitalLevel.WATCH,
        actions=(action, *result.actions[1:]),
        recheck_in_minutes=c.recheck_minutes,
    )


def bp_level(
    bp: BloodPressure, rules: ClinicalRules | None = None
) -> tuple[VitalLevel, tuple[VitalAlert, ...]]:
    """The level a blood pressure alone would have during an infusion (absolute thresholds only)."""
    result = classify_vitals(VitalSigns(bp=bp), rules=rules)
    return result.level, result.alerts
