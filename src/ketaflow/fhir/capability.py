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
    # The staff, their roles, the clinics and network, the clinics and chairs as places: those of
    # the clinics where the user holds a role.
    "Practitioner": ("_id",),
    "PractitionerRole": ("_id",),
    "Organization": ("_id",),
    "Location": ("_id",),
}
# Resource type -> `_include` search parameter -> the element holding the reference (a dotted path
# through lists). The included resources come in the searchset with search.mode = include.
INCLUDES: dict[str, dict[str, str]] = {
    "Observation": {
        "patient": "subject",
        "subject": "subject",
        "encounter": "encounter",
        "performer": "performer",
    },
    "Encounter": {
        "patient": "subject",
        "subject": "subject",
        "practitioner": "participant.individual",
        "location": "location.location",
        "service-provider": "serviceProvider",
    },
    "MedicationRequest": {
        "patient": "subject",
        "subject": "subject",
        "encounter": "encounter",
        "requester": "requester",
    },
    "MedicationAdministration": {
        "patient": "subject",
        "subject": "subject",
        "request": "request",
        "context": "context",
        "performer": "performer.actor",
    },
    "Condition": {"patient": "subject", "subject": "subject"},
    "QuestionnaireResponse": {
        "patient": "subject",
        "subject": "subject",
        "encounter": "encounter",
        "author": "author",
    },
    "AdverseEvent": {"subject": "subject", "recorder": "recorder"},
    "CarePlan": {"patient": "subject", "subject": "subject"},
    "PractitionerRole": {
        "practitioner": "practitioner",
        "organization": "organization",
        "location": "location",
    },
    "Location": {"organization": "managingOrganization", "partof": "partOf"},
    "Organization": {"partof": "partOf"},
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
        if name in INCLUDES:
            entry["searchInclude"] = [f"{name}:{p}" for p in INCLUDES[name]]
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
