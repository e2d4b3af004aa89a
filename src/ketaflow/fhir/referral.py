"""A referral as a FHIR Bundle, read into what ketaflow registers (pure; no database).

A referring clinician's system sends a transaction (or collection) Bundle holding the Patient and
what the clinic needs before a consultation: Conditions, the medications (MedicationStatement or
MedicationRequest), AllergyIntolerances, recent PHQ-9 totals (Observation 44261-6), a body weight
(29463-7) and height (8302-2). `read_referral` reads them into plain values and gathers every
problem at once, each under the place in the Bundle it comes from ("entry[2].resource.birthDate"),
so the sender can fix them all; anything else in the Bundle is listed as not imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ketaflow.errors import InvalidFields
from ketaflow.fhir import codes as c

IMPORTED = {
    "Patient",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "AllergyIntolerance",
    "Observation",
}
# Medication statuses that say the patient no longer takes it (R4 medication-statement-status and
# medicationrequest-status): such entries are listed as not imported, not added as current.
PAST = {"completed", "stopped", "cancelled", "entered-in-error", "not-taken", "revoked"}
PHQ9_MAX = 27  # PHQ-9 total range 0-27 (Kroenke K et al., J Gen Intern Med 2001;16:606-613)


@dataclass
class Referral:
    given_name: str = ""
    family_name: str = ""
    birth_date: str = ""
    sex: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""
    medications: list[str] = field(default_factory=list)
    allergies: list[str] = field(default_factory=list)  # "substance: reaction" as registration reads it
    conditions: list[tuple[str | None, str, date | None]] = field(
        default_factory=list
    )  # (ICD-10-CM, text, onset)
    phq9: list[tuple[datetime, int]] = field(default_factory=list)
    weight_kg: float | None = None
    height_cm: float | None = None
    not_imported: list[str] = field(default_factory=list)


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"]).strip()
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code")).strip()
    return ""


def _coded(concept: Any, system: str) -> str | None:
    for coding in (concept or {}).get("coding") or [] if isinstance(concept, dict) else []:
        if isinstance(coding, dict) and coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def read_referral(bundle: Any) -> Referral:
    """The referral's values; InvalidFields naming every problem (by its place in the Bundle)."""
    problems: dict[str, str] = {}
    out = Referral()
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidFields({"resourceType": "Send a FHIR Bundle (resourceType Bundle)."})
    if bundle.get("type") not in ("transaction", "collection"):
        problems["type"] = "The Bundle's type must be transaction (or collection)."
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InvalidFields(
            {**problems, "entry": "The Bundle has no entries; it needs at least the Patient."}
        )
    patients = [
        (i, e["resource"])
        for i, e in enumerate(entries)
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") == "Patient"
    ]
    if len(patients) != 1:
        problems["entry"] = f"The Bundle must hold exactly one Patient; it holds {len(patients)}."
    else:
        _patient(patients[0][0], patients[0][1], out, problems)
    for i, entry in enumerate(entries):
        where = f"entry[{i}].resource"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            problems[where] = "Each entry needs a resource."
            continue
        kind = resource.get("resourceType")
        if kind not in IMPORTED:
            out.not_imported.append(f"{kind}/{resource.get('id', '?')}")
        elif kind == "Condition":
            text = _text(resource.get("code"))
            if not text:
                problems[f"{where}.code"] = "A Condition needs a code with a text or a display."
            else:
                onset = resource.get("onsetDateTime")
                noted = (
                    date.fromisoformat(onset[:10]) if isinstance(onset, str) and len(onset) >= 10 else None
                )
                out.conditions.append((_coded(resource.get("code"), c.ICD10CM), text[:255], noted))
        elif kind in ("MedicationStatement", "MedicationRequest") and resource.get("status") in PAST:
            out.not_imported.append(
                f"{kind}/{resource.get('id', '?')} ({resource.get('status')}: not taken now)"
            )
        elif kind in ("MedicationStatement", "MedicationRequest"):
            text = _text(resource.get("medicationCodeableConcept"))
            if not text:
                problems[f"{where}.medicationCodeableConcept"] = (
                    "A medication needs medicationCodeableConcept with a text or a display (a Medication "
                    "reference is not read)."
                )
            else:
                out.medications.append(text)
        elif kind == "AllergyIntolerance":
            substance = _text(resource.get("code"))
            if not substance:
                problems[f"{where}.code"] = "An AllergyIntolerance needs a code with a text or a display."
            else:
                reactions = [
                    _text(m)
                    for r in resource.get("reaction") or []
                    if isinstance(r, dict)
                    for m in r.get("manifestation") or []
                ]
                out.allergies.append(
                    substance + (f": {', '.join(x for x in reactions if x)}" if any(reactions) else "")
                )
        elif kind == "Observation":
            _observation(where, resource, out, problems)
    if problems:
        raise InvalidFields(problems)
    return out


def _patient(i: int, resource: dict[str, Any], out: Referral, problems: dict[str, str]) -> None:
    where = f"entry[{i}].resource"
    names = resource.get("name") or []
    name = names[0] if names and isinstance(names[0], dict) else {}
    out.family_name = str(name.get("family") or "")
    given = name.get("given") or []
    out.given_name = " ".join(str(g) for g in given) if isinstance(given, list) else ""
    if not out.family_name or not out.given_name:
        problems[f"{where}.name"] = "The Patient needs a name with a family and a given name."
    out.birth_date = str(resource.get("birthDate") or "")
    if not out.birth_date:
        problems[f"{where}.birthDate"] = "The Patient needs a birthDate (ketaflow checks duplicates by it)."
    out.sex = str(resource.get("gender") or "unknown")
    for telecom in resource.get("telecom") or []:
        if isinstance(telecom, dict) and telecom.get("system") == "phone" and not out.phone:
            out.phone = str(telecom.get("value") or "")
        if isinstance(telecom, dict) and telecom.get("system") == "email" and not out.email:
            out.email = str(telecom.get("value") or "")
    addresses = resource.get("address") or []
    if addresses and isinstance(addresses[0], dict):
        a = addresses[0]
        parts = [*(a.get("line") or []), a.get("city"), a.get("state"), a.get("postalCode")]
        out.address = str(a.get("text") or ", ".join(str(p) for p in parts if p))


def _observation(where: str, resource: dict[str, Any], out: Referral, problems: dict[str, str]) -> None:
    code = resource.get("code") or {}
    loinc = {
        cd.get("code")
        for cd in code.get("coding") or []
        if isinstance(cd, dict) and cd.get("system") == c.LOINC
    }
    quantity = resource.get("valueQuantity") or {}
    value = quantity.get("value", resource.get("valueInteger"))
    if c.CODES["phq9_total"].code in loinc:
        when = _moment(resource.get("effectiveDateTime"))
        if when is None:
            problems[f"{where}.effectiveDateTime"] = "A PHQ-9 total needs effectiveDateTime with a time zone."
        elif not isinstance(value, (int, float)) or value != int(value) or not 0 <= value <= PHQ9_MAX:
            problems[f"{where}.valueQuantity"] = f"A PHQ-9 total is a whole number from 0 to {PHQ9_MAX}."
        else:
            out.phq9.append((when, int(value)))
    elif c.CODES["body_weight"].code in loinc:
        if quantity.get("code") != "kg" or not isinstance(value, (int, float)):
            problems[f"{where}.valueQuantity"] = "A body weight must be in kg (UCUM code kg)."
        else:
            out.weight_kg = float(value)
    elif c.CODES["body_height"].code in loinc:
        if quantity.get("code") != "cm" or not isinstance(value, (int, float)):
            problems[f"{where}.valueQuantity"] = "A body height must be in cm (UCUM code cm)."
        else:
            out.height_cm = float(value)
    else:
        out.not_imported.append(f"Observation/{resource.get('id', '?')} ({_text(code) or 'uncoded'})")
