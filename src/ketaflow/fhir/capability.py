"""The server's CapabilityStatement (GET /fhir/metadata): FHIR 4.0.1, what may be read and searched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ketaflow.fhir.mapping import checked, instant

# Resource type -> the search parameters the server answers (besides _count and _offset).
SEARCHABLE: dict[str, tuple[str, ...]] = {
    "Patient": ("_id", "identifier", "family", "birthdate"),
    "Encounter": ("patient", "subject", "date"),
    "Condition": ("patient", "subject", "code", "date"),
    "AllergyIntolerance": ("patient",),
    "MedicationStatement": ("patient", "subject"),
    "Observation": ("patient", "subject", "code", "date"),
    "MedicationRequest": ("patient", "subject", "code", "date"),
    "MedicationAdministration": ("patient", "subject", "code", "date"),
    "QuestionnaireResponse": ("patient", "subject", "date"),
    "CarePlan": ("patient", "subject", "date"),
    "Consent": ("patient", "date"),
    "AdverseEvent": ("patient", "subject", "date"),
    "RelatedPerson": ("patient",),
    "Provenance": ("patient", "date"),
}
_TYPES = {"_id": "token", "identifier": "token", "code": "token", "family": "string", "birthdate": "date"}
_TYPES |= {"patient": "reference", "subject": "reference", "date": "date"}


def capability_statement(base_url: str, software_version: str, published: datetime) -> dict[str, Any]:
    resources = []
    for name, params in SEARCHABLE.items():
        entry: dict[str, Any] = {
            "type": name,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": p, "type": _TYPES[p]} for p in params]
            + [{"name": "_lastUpdated", "type": "date"}],
        }
        if name == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        resources.append(entry)
    return checked(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": instant(published),
            "kind": "instance",
            "software": {"name": "ketaflow", "version": software_version},
            "implementation": {"description": "ketaflow FHIR R4 API", "url": base_url},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json", "json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "description": "A signed-in staff session (the session cookie); each read is "
                        "limited to the user's clinics and roles and is audited."
                    },
                    "resource": resources,
                }
            ],
        }
    )
