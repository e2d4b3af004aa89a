"""Discharge readiness after an infusion, and the after-care instructions."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ketaflow.clinical.levels import VitalLevel
from ketaflow.clinical.rules import ClinicalRules, default_rules
from ketaflow.clinical.schema import ChoiceCriterion, DischargeBloodPressure
from ketaflow.clinical.vitals import BloodPressure, VitalSigns, check_sedation, classify_vitals
from ketaflow.errors import InvalidInput


@dataclass(frozen=True)
class Driver:
    """The person taking the patient home."""

    name: str
    phone: str


@dataclass(frozen=True)
class Unmet:
    """A discharge criterion not yet met."""

    criterion: str
    message: str
    source: str


@dataclass(frozen=True)
class DischargeResult:
    """Ready or not, every unmet criterion, and the after-care instructions to hand over."""

    ready: bool
    unmet: tuple[Unmet, ...]
    vitals_level: VitalLevel | None
    driver: Driver | None
    aftercare: tuple[str, ...]


def parse_driver(text: str | None, rules: ClinicalRules | None = None) -> Driver | None:
    """Parse 'Dana Reyes, 555-0100' into a Driver; None when no usable name and phone."""
    if not text or not text.strip():
        return None
    need = (rules or default_rules()).discharge.driver.min_phone_digits
    m = re.search(r"\+?[\d][\d\s().-]*\d", text)
    phone = m.group(0).strip() if m else ""
    name = re.sub(r"[,;:]+", " ", text.replace(phone, "") if phone else text).strip()
    name = re.sub(r"\s+", " ", name)
    if sum(ch.isdigit() for ch in phone) < need or not re.search(r"[A-Za-z]{2,}", name):
        return None
    return Driver(name, phone)


def aftercare_instructions(
    clinic_phone: str | None = None, rules: ClinicalRules | None = None
) -> tuple[str, ...]:
    """Return the after-care instructions, with the clinic's phone number filled in."""
    rules = rules or default_rules()
    phone = clinic_phone or rules.aftercare.clinic_phone_placeholder
    return tuple(i.text.replace("{clinic_phone}", phone) for i in rules.aftercare.instructions)


def _bp_fit_for_home(bp: BloodPressure, home: DischargeBloodPressure) -> bool:
    return (
        home.min_systolic_mm_hg <= bp.systolic_mm_hg <= home.max_systolic_mm_hg
        and bp.diastolic_mm_hg <= home.max_diastolic_mm_hg
    )


def _one_of(choices: tuple[str, ...]) -> str:
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


def parse_choice(value: str | None, rule: ChoiceCriterion, what: str) -> str | None:
    """The answer to a choice criterion, normalised; None when not answered. A value that is
    not one of the rule's choices raises InvalidInput in one sentence naming them."""
    if value is None or not value.strip():
        return None
    answer = value.strip().lower()
    if answer not in rule.choices:
        raise InvalidInput(f"{what} must be {_one_of(rule.choices)}; got '{value.strip()}'.")
    return answer


def _choice_unmet(key: str, answer: str | None, rule: ChoiceCriterion) -> Unmet | None:
    if answer is None:
        return Unmet(key, rule.missing, rule.source)
    if answer not in rule.allowed:
        return Unmet(key, rule.unmet, rule.source)
    return None


def _sedation_unmet(score: int | None, rules: ClinicalRules) -> Unmet | None:
    need = rules.discharge.sedation
    scale = rules.vitals.sedation
    if score is None:
        return Unmet(
            "sedation",
            f"Chart the sedation level ({scale.scale}) with the vitals after the stop before discharge.",
            need.source,
        )
    if score < need.min_score:
        lv = scale.level(int(score))
        alert = scale.level(need.min_score)
        return Unmet(
            "sedation",
            f"Sedation {scale.scale} {lv.score} ({lv.wording}): the patient must be alert "
            f"({scale.scale} {alert.score}, {alert.wording.lower()}) before discharge.",
            need.source,
        )
    return None


def evaluate_discharge(
    *,
    minutes_since_end: float,
    vitals: VitalSigns,
    baseline: VitalSigns | None = None,
    aldrete: int | None = None,
    padss: int | None = None,
    walks_with_help: bool = False,
    nausea: str = "none",
    driver: str | None = None,
    instructions_given: bool = False,
    mental_status: str | None = None,
    suicidal_ideation: str | None = None,
    suicide_risk_cleared: bool = False,
    clinic_phone: str | None = None,
    rules: ClinicalRules | None = None,
) -> DischargeResult:
    """Evaluate discharge readiness; list every unmet criterion (none means ready).

    `mental_status` (baseline or altered) and `suicidal_ideation` (none or present, from the
    repeat suicide-risk screen) are what the nurse found at the discharge check; None means not
    recorded yet, itself an unmet item. Suicidal ideation present is met only when
    `suicide_risk_cleared`: the psychiatrist has assessed the patient and discharges them.
    The sedation level is the one charted with `vitals`.
    """
    rules = rules or default_rules()
    d = rules.discharge
    mind = parse_choice(mental_status, d.mental_status, "Mental status")
    ideation = parse_choice(suicidal_ideation, d.suicidal_ideation, "Suicidal ideation")
    check_sedation(vitals.sedation_score, rules)
    if not math.isfinite(minutes_since_end):
        raise InvalidInput(f"Minutes since the infusion ended must be a number; got {minutes_since_end:g}.")
    if minutes_since_end < 0:
        raise InvalidInput(f"Minutes since the infusion ended cannot be negative; got {minutes_since_end:g}.")
    nausea = nausea.strip().lower()
    if nausea not in d.nausea.choices:
        raise InvalidInput(f"Nausea must be one of {', '.join(d.nausea.choices)}; got '{nausea}'.")
    for label, val, cut in (("Aldrete", aldrete, d.aldrete), ("PADSS", padss, d.padss)):
        if val is not None and not 0 <= val <= cut.max_score:
            raise InvalidInput(f"{label} score must be 0 to {cut.max_score}; got {val}.")

    unmet: list[Unmet] = []
    obs = d.min_observation_minutes
    if minutes_since_end < obs.value:
        unmet.append(
            Unmet(
                "observation",
                f"Observed {minutes_since_end:g} of at least {obs.value:g} minutes after the infusion ended.",
                obs.source,
            )
        )
    missing = [
        name
        for name, val in (
            ("blood pressure", vitals.bp),
            ("heart rate", vitals.heart_rate_per_min),
            ("SpO2", vitals.spo2_percent),
        )
        if val is None
    ]
    level: VitalLevel | None = None
    if missing:
        unmet.append(Unmet("vitals", f"Chart {', '.join(missing)} before discharge.", d.vitals.source))
    else:
        assessment = classify_vitals(vitals, baseline=baseline, rules=rules)
        level = assessment.level
        if level.rank > d.vitals.max_level.rank:
            why = "; ".join(a.message for a in assessment.alerts)
            unmet.append(Unmet("vitals", f"Vitals are not back within limits: {why}", d.vitals.source))
        elif vitals.bp is not None and not _bp_fit_for_home(vitals.bp, d.vitals.blood_pressure):
            home = d.vitals.blood_pressure
            unmet.append(
                Unmet(
                    "vitals",
                    f"Blood pressure {vitals.bp} mmHg is not back within the discharge limits "
                    f"(systolic {home.min_systolic_mm_hg:g}-{home.max_systolic_mm_hg:g}, diastolic up to "
                    f"{home.max_diastolic_mm_hg:g} mmHg).",
                    home.source,
                )
            )
    sedated = _sedation_unmet(vitals.sedation_score, rules)
    unmet += [sedated] if sedated is not None else []
    mind_unmet = _choice_unmet("mental_status", mind, d.mental_status)
    unmet += [mind_unmet] if mind_unmet is not None else []
    if not (ideation == "present" and suicide_risk_cleared):
        risk = _choice_unmet("suicidal_ideation", ideation, d.suicidal_ideation)
        unmet += [risk] if risk is not None else []
    scores = [(aldrete, d.aldrete, "modified Aldrete"), (padss, d.padss, "PADSS")]
    given = [(v, c, n) for v, c, n in scores if v is not None]
    if not given:
        unmet.append(Unmet("recovery_score", "Record a modified Aldrete or PADSS score.", d.aldrete.source))
    for val, cut, name in given:
        if val is not None and val < cut.min_score:
            unmet.append(Unmet("recovery_score", f"{name} score {val} is below {cut.min_score}.", cut.source))
    if not walks_with_help:
        unmet.append(
            Unmet("walking", "The patient must walk steadily with help before leaving.", d.aldrete.source)
        )
    if nausea not in d.nausea.allowed:
        unmet.append(
            Unmet("nausea", f"Nausea is {nausea}; it must be controlled (none or mild).", d.nausea.source)
        )
    who = parse_driver(driver, rules)
    if who is None:
        unmet.append(
            Unmet(
                "driver",
                "Confirm the driver or arranged transport by name and phone number.",
                d.driver.source,
            )
        )
    if not instructions_given:
        unmet.append(
            Unmet(
                "instructions",
                "Give and explain the after-care instructions.",
                rules.aftercare.source,
            )
        )
    return DischargeResult(
        ready=not unmet,
        unmet=tuple(unmet),
        vitals_level=level,
        driver=who,
        aftercare=aftercare_instructions(clinic_phone, rules),
    )
