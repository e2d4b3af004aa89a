"""Screening: forgiving medication matching, contraindications, BP, overall level."""

from __future__ import annotations

import pytest

from ketaflow.clinical import ScreeningLevel, parse_bp, screen
from ketaflow.clinical.matching import words

REVIEW = ScreeningLevel.PSYCHIATRIST_REVIEW
CONTRA = ScreeningLevel.CONTRAINDICATED
CAUTION = ScreeningLevel.CAUTION
INFO = ScreeningLevel.INFORMATION


def rules_hit(med: str) -> set[str]:
    return {f.rule for f in screen(medications=[med]).findings}


@pytest.mark.parametrize(
    "med",
    [
        "Xanax 0.5 mg",
        "Xanax XR",
        "alprazolam",
        "klonopin 1mg",
        "Klonopin",
        "clonazepam 0.5mg bid",
        "lorazepam prn",
        "Ativan 1 mg at bedtime",
        "VALIUM 5MG",
        "diazepam",
        "chlordiazepoxide",
        "Librium 10 mg",
        "benzos",
        "a benzodiazepine for sleep",
        "Xanex",  # misspelt
        "klonipin 1 mg",  # misspelt
        "lorazepan",  # misspelt
        "temazepam 15mg qhs",
    ],
)
def test_it_finds_a_benzodiazepine_however_written(med: str) -> None:
    result = screen(medications=[med])
    assert "benzodiazepine" in {f.rule for f in result.findings}
    assert result.level is REVIEW


@pytest.mark.parametrize(
    ("med", "rule", "level"),
    [
        ("lamotrigine", "lamotrigine", CAUTION),
        ("Lamictal XR 200 mg", "lamotrigine", CAUTION),
        ("Nardil 15mg", "maoi", REVIEW),
        ("tranylcypromine", "maoi", REVIEW),
        ("an MAOI", "maoi", REVIEW),
        ("Emsam patch", "maoi", REVIEW),
        ("Adderall XR 20mg", "psychostimulant", CAUTION),
        ("methylphenidate", "psychostimulant", CAUTION),
        ("Vyvanse", "psychostimulant", CAUTION),
        ("naltrexone 50mg", "opioid_antagonist", REVIEW),
        ("Vivitrol injection monthly", "opioid_antagonist", REVIEW),
        ("alcohol", "alcohol", CAUTION),
        ("wine most evenings", "alcohol", CAUTION),
        ("oxycodone 5 mg prn", "opioid", CAUTION),
        ("theophylline", "theophylline", REVIEW),  # issue 13: consider an alternative
        ("Ambien 10mg", "z_drug", CAUTION),
        ("Sudafed", "sympathomimetic", CAUTION),
        ("dextroamphetamine-amphetamine ER 20mg", "psychostimulant", CAUTION),
        ("Theo-24 300 mg", "theophylline", REVIEW),
        ("naltrexone-bupropion (Contrave)", "opioid_antagonist", REVIEW),
        ("Adderall/Xanax", "benzodiazepine", REVIEW),
    ],
)
def test_it_finds_interacting_medicines_by_generic_brand_and_class(
    med: str, rule: str, level: ScreeningLevel
) -> None:
    findings = [f for f in screen(medications=[med]).findings if f.rule == rule]
    assert findings, med
    assert findings[0].level is level
    assert findings[0].source and findings[0].reason and findings[0].advice


@pytest.mark.parametrize(
    ("med", "not_rule"),
    [
        ("lithium 300 mg", "benzodiazepine"),  # lithium is not Librium
        ("clonidine 0.1 mg", "benzodiazepine"),  # clonidine is not clonazepam
        ("trazodone 50 mg", "opioid"),  # trazodone is not tramadol
        ("Lamisil", "lamotrigine"),  # terbinafine is not Lamictal
        ("buspirone", "opioid"),  # buspirone is not buprenorphine
    ],
)
def test_it_does_not_confuse_look_alike_names(med: str, not_rule: str) -> None:
    assert not_rule not in rules_hit(med)


def test_it_lists_unrecognised_entries_instead_of_dropping_them() -> None:
    result = screen(medications=["sertraline 100 mg"])
    assert result.level is INFO
    assert result.findings[0].rule == "unlisted"
    assert result.findings[0].item == "sertraline 100 mg"


def test_it_says_when_it_read_a_misspelling() -> None:
    finding = screen(medications=["Xanex"]).findings[0]
    assert "read 'xanex' as 'xanax'" in finding.matched


def test_it_drops_doses_and_formulation_words() -> None:
    assert words("Klonopin 1mg BID prn") == ["klonopin"]
    assert words("Xanax XR 0.5 mg tablet at night") == ["xanax"]


@pytest.mark.parametrize(
    ("condition", "rule", "level"),
    [
        ("uncontrolled hypertension", "uncontrolled_hypertension", CONTRA),
        # the words in the other order, as a chart list often writes them, must not read as controlled
        ("Hypertension, uncontrolled", "uncontrolled_hypertension", CONTRA),
        ("high blood pressure - uncontrolled", "uncontrolled_hypertension", CONTRA),
        ("uncontrolled BP", "uncontrolled_hypertension", CONTRA),
        ("Hypertension, on lisinopril", "hypertension", CAUTION),
        ("schizophrenia", "active_psychosis", CONTRA),
        ("history of psychosis", "history_of_psychosis", REVIEW),
        ("pregnant", "pregnancy", CONTRA),
        ("active substance use", "active_substance_use", CONTRA),
        ("history of substance abuse", "history_of_substance_use", REVIEW),
        ("unstable angina", "unstable_cardiovascular_disease", CONTRA),
        ("raised intracranial pressure", "raised_intracranial_pressure", REVIEW),
        ("glaucoma", "raised_intraocular_pressure", REVIEW),
        ("allergic to ketamine", "hypersensitivity", CONTRA),
        ("brain aneurysm", "aneurysmal_vascular_disease", CONTRA),
        ("cirrhosis", "severe_hepatic_impairment", CONTRA),
    ],
)
def test_it_screens_contraindications(condition: str, rule: str, level: ScreeningLevel) -> None:
    findings = screen(conditions=[condition]).findings
    assert [f.rule for f in findings] == [rule]
    assert findings[0].level is level


@pytest.mark.parametrize(
    ("bp", "level"),
    [
        ("140/90", ScreeningLevel.CLEAR),  # at the label's cut-off: not above it
        ("141/90", REVIEW),
        ("140/91", REVIEW),
        ("179/109", REVIEW),
        ("180/100", ScreeningLevel.DEFER),  # issue 13: would pause a running infusion
        ("150/110", ScreeningLevel.DEFER),
        ("199/119", ScreeningLevel.DEFER),
        ("200/100", CONTRA),  # would stop a running infusion
        ("170/120", CONTRA),
        ("90/60", ScreeningLevel.DEFER),  # low: would pause a running infusion
    ],
)
def test_it_screens_the_pre_infusion_blood_pressure(bp: str, level: ScreeningLevel) -> None:
    assert screen(blood_pressure=parse_bp(bp)).level is level


def test_it_cites_the_rest_time_in_the_blood_pressure_recheck_advice() -> None:
    (finding,) = screen(blood_pressure=parse_bp("150/95")).findings
    assert "5 minutes" in finding.advice
    assert "SPRAVATO" in finding.source and "Whelton" in finding.source and "5 min" in finding.source


def test_it_returns_the_issue_example_most_serious_first() -> None:
    result = screen(
        medications=["Xanax 0.5 mg", "lamotrigine"],
        conditions=["uncontrolled hypertension"],
        blood_pressure=parse_bp("150/95"),
    )
    assert result.level is CONTRA
    levels = [f.level.rank for f in result.findings]
    assert levels == sorted(levels, reverse=True)
    assert {f.rule for f in result.findings} == {
        "uncontrolled_hypertension",
        "benzodiazepine",
        "lamotrigine",
        "blood_pressure",
    }


def test_it_is_clear_when_nothing_is_found() -> None:
    result = screen(medications=[], conditions=["  "])
    assert result.level is ScreeningLevel.CLEAR
    assert result.findings == ()


def test_it_keeps_the_more_serious_reading_of_a_misspelt_phrase() -> None:
    # a typo in "uncontrolled" must not downgrade the finding to controlled hypertension
    result = screen(conditions=["uncontroled hypertension"])
    assert [f.rule for f in result.findings] == ["uncontrolled_hypertension"]
    assert result.level is CONTRA


@pytest.mark.parametrize(
    "med",
    [
        "sertraline", "escitalopram", "bupropion", "venlafaxine", "mirtazapine", "quetiapine",
        "aripiprazole", "lithium", "propranolol", "clonidine", "hydroxyzine",
        "buspirone", "levothyroxine", "lisinopril", "nortriptyline", "topiramate", "depakote",
        "ondansetron", "Zoloft", "Lexapro", "Seroquel", "Abilify", "Wellbutrin XL 300mg",
    ],
)  # fmt: skip
def test_it_does_not_flag_common_medicines_without_a_listed_interaction(med: str) -> None:
    assert rules_hit(med) == {"unlisted"}
