"""A readable summary of a FHIR record (the patient's "download my record" page), pure.

It is made from the very resources of the downloaded Bundle, so the page and the file never
disagree; every line names where it comes from in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

Resource = dict[str, Any]


@dataclass
class Summary:
    name: str = ""
    birth_date: str = ""
    record_number: str = ""
    diagnoses: list[tuple[str, str]] = field(default_factory=list)  # (description, status)
    allergies: list[str] = field(default_factory=list)
    medications: list[tuple[str, str]] = field(default_factory=list)  # (as written, status)
    infusions: list[tuple[str, str, str]] = field(default_factory=list)  # (when, mg given, status)
    scores: list[tuple[str, str, str]] = field(default_factory=list)  # (when, scale, total)
    vitals: list[tuple[str, str, str]] = field(default_factory=list)  # (when, what, value), newest first
    resources: int = 0


def _when(text: str | None, zone: ZoneInfo) -> str:
    if not text:
        return ""
    if "T" not in text:
        return text
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone).strftime("%d %b %Y %H:%M")


def _status(concept: dict[str, Any] | None) -> str:
    codings = (concept or {}).get("coding", [])
    return str(codings[0].get("code", "")) if codings else ""


def _value(observation: Resource) -> str:
    if "component" in observation:
        parts = [c["valueQuantity"] for c in observation["component"] if "valueQuantity" in c]
        if len(parts) == 2:
            return f"{parts[0]['value']}/{parts[1]['value']} {parts[0]['unit']}"
    quantity = observation.get("valueQuantity")
    if quantity:
        unit = quantity.get("unit", "")
        return f"{quantity['value']}" + ("" if unit == "{score}" else f" {unit}")
    return ""


def summarize(resources: list[Resource], zone: ZoneInfo) -> Summary:
    out = Summary(resources=len(resources))
    given: dict[str, str] = {}
    for r in resources:
        if r["resourceType"] == "MedicationAdministration":
            given[r["context"]["reference"]] = f"{r['dosage']['dose']['value']} mg ({r['status']})"
    vitals: list[tuple[str, str, str, str]] = []
    for r in resources:
        kind = r["resourceType"]
        if kind == "Patient":
            out.name = r["name"][0].get("text", "")
            out.birth_date = r.get("birthDate", "")
            out.record_number = r["identifier"][0]["value"]
        elif kind == "Condition":
            out.diagnoses.append((r["code"].get("text", ""), _status(r.get("clinicalStatus"))))
        elif kind == "AllergyIntolerance":
            out.allergies.append(r["code"].get("text", ""))
        elif kind == "MedicationStatement":
            out.medications.append((r["medicationCodeableConcept"].get("text", ""), r["status"]))
        elif kind == "Encounter" and r["type"][0]["coding"][0]["code"] == "infusion-visit":
            mg = given.get(f"Encounter/{r['id']}", "not started")
            out.infusions.append((_when(r["period"]["start"], zone), mg, r["status"]))
        elif kind == "Observation":
            category = r["category"][0]["coding"][0]["code"]
            row = (_when(r.get("effectiveDateTime"), zone), r["code"].get("text", ""), _value(r))
            if category == "survey" and "valueQuantity" in r:
                out.scores.append(row)
            elif category == "vital-signs":
                vitals.append((r.get("effectiveDateTime", ""), *row))
    out.infusions.sort()
    out.scores.sort()
    out.vitals = [v[1:] for v in sorted(vitals, reverse=True)]
    return out
