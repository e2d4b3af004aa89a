"""Issue 13: screening faults (2, 4) and the rules that were missing entirely."""

from __future__ import annotations

import pytest

from ketaflow.clinical import PregnancyStatus, Route, ScreeningLevel, screen
from ketaflow.clinical.rules import default_rules

REVIEW = ScreeningLevel.PSYCHIATRIST_REVIEW
CONTRA = ScreeningLevel.CONTRAINDICATED
CAUTION = ScreeningLevel.CAUTION
INFO = ScreeningLevel.INFORMATION


def levels(**kw: object) -> dict[str, ScreeningLevel]:
    return {f.rule: f.level for f in screen(**kw).findings}  # type: ignore[arg-type]


# ---- fault 2: stable heart disease is for the psychiatrist with cardiology clearance ---------
@pytest.mark.parametrize(
    "condition",
    [
        "myocardial infarction in 2015",
        "coronary artery disease",
        "arrhythmia",
        "heart failure",
        "heart attack",
    ],
)
def test_stable_heart_disease_is_for_the_psychiatrist_not_a_contraindication(condition: str) -> None:
    result = screen(conditions=[condition])
    assert result.level is REVIEW, condition
    assert any("cardiolog" in f.advice.lower() for f in result.findings)


@pytest.mark.parametrize(
    "condition",
    ["recent myocardial infarction", "recent heart attack", "unstable angina", "decompensated heart failure"],
)
def test_unstable_heart_disease_stays_contraindicated(condition: str) -> None:
    assert screen(conditions=[condition]).level is CONTRA, condition


# ---- fault 4: theophylline: consider an alternative, not "do not co-administer" -------------
def test_theophylline_asks_the_psychiatrist_to_consider_an_alternative() -> None:
    rule = default_rules().screening.medications["theophylline"]
    assert rule.level is REVIEW
    assert "do not co-administer" not in rule.reason.lower()
    assert "alternative" in (rule.reason + rule.advice).lower()
    assert "10/2024" in rule.source


# ---- missing: age ----------------------------------------------------------------------------
def test_a_patient_under_18_is_not_treated_here() -> None:
    assert levels(age_years=17)["age"] is CONTRA
    assert "age" not in levels(age_years=18)


# ---- missing: pregnancy test / contraception counselling -------------------------------------
@pytest.mark.parametrize(
    ("status", "level"),
    [
        (PregnancyStatus.PREGNANT, CONTRA),
        (PregnancyStatus.POSSIBLE, REVIEW),
        (PregnancyStatus.TEST_NEGATIVE, CAUTION),
    ],
)
def test_pregnancy_status_gives_a_test_or_counselling(status: PregnancyStatus, level: ScreeningLevel) -> None:
    result = screen(pregnancy=status)
    assert result.level is level
    text = " ".join(f.advice.lower() for f in result.findings)
    assert ("pregnancy test" in text) or ("contracept" in text) or status is PregnancyStatus.PREGNANT


def test_no_pregnancy_finding_when_it_cannot_apply() -> None:
    assert screen(pregnancy=PregnancyStatus.NOT_APPLICABLE).findings == ()


# ---- missing: fasting guidance ---------------------------------------------------------------
def test_every_screening_carries_the_fasting_guidance_with_its_source() -> None:
    result = screen()
    assert result.level is ScreeningLevel.CLEAR
    fasting = [g for g in result.guidance if g.rule == "fasting"]
    assert fasting and "2 hours" in fasting[0].text and "SPRAVATO" in fasting[0].source


# ---- missing: other CNS depressants and brand names -------------------------------------------
@pytest.mark.parametrize(
    ("med", "rule"),
    [
        ("gabapentin 300 mg tid", "gabapentinoid"),
        ("Lyrica 75mg", "gabapentinoid"),
        ("Neurontin", "gabapentinoid"),
        ("phenobarbital", "barbiturate"),
        ("Fioricet", "barbiturate"),
        ("butalbital", "barbiturate"),
        ("Zubsolv", "opioid"),
        ("Belbuca", "opioid"),
        ("Sublocade monthly", "opioid"),
        ("Dolophine", "opioid"),
        ("Methadose", "opioid"),
        ("Evekeo", "psychostimulant"),
        ("Zenzedi", "psychostimulant"),
        ("Adzenys XR", "psychostimulant"),
        ("Dyanavel", "psychostimulant"),
        ("Quillivant XR", "psychostimulant"),
        ("Daytrana patch", "psychostimulant"),
        ("Jornay PM", "psychostimulant"),
        ("Azstarys", "psychostimulant"),
        ("meperidine", "meperidine"),
        ("Demerol", "meperidine"),
        ("Demerol", "opioid"),
        ("linezolid", "linezolid"),
        ("Zyvox", "linezolid"),
    ],
)
def test_it_knows_the_missing_medicines(med: str, rule: str) -> None:
    assert rule in levels(medications=[med]), med


def test_meperidine_and_linezolid_carry_the_mao_inhibitor_cautions() -> None:
    s = default_rules().screening.medications
    assert "mao" in s["meperidine"].reason.lower()
    assert "blood pressure" in s["linezolid"].reason.lower() and "mao" in s["linezolid"].reason.lower()


# ---- missing: CYP3A4 / CYP2B6 interactions for the oral and sublingual routes -----------------
@pytest.mark.parametrize("med", ["clarithromycin", "clopidogrel", "ritonavir", "Paxlovid"])
def test_a_cyp_inhibitor_matters_for_oral_and_sublingual_ketamine(med: str) -> None:
    assert levels(medications=[med], route=Route.ORAL)["cyp_inhibitor"] is CAUTION
    assert levels(medications=[med], route=Route.SUBLINGUAL)["cyp_inhibitor"] is CAUTION
    assert levels(medications=[med], route=Route.IV)["cyp_inhibitor"] is INFO


@pytest.mark.parametrize("med", ["rifampin", "rifampicin", "St John's wort", "carbamazepine"])
def test_a_cyp_inducer_matters_for_oral_ketamine(med: str) -> None:
    assert levels(medications=[med], route=Route.ORAL)["cyp_inducer"] is CAUTION
    assert levels(medications=[med])["cyp_inducer"] is INFO  # IV by default


def test_the_route_note_says_why_iv_is_less_affected() -> None:
    finding = next(f for f in screen(medications=["clarithromycin"]).findings if f.rule == "cyp_inhibitor")
    assert "oral" in finding.reason.lower() and "iv" in finding.reason.lower()
