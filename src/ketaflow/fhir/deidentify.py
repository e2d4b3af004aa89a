"""The de-identified research variant of the bulk export: pure rewrites of the resources
ketaflow.fhir.mapping makes (no database access here).

HIPAA Safe Harbor (45 CFR 164.514(b)(2)(i)) lists the identifiers to remove. What this module does
with each one the export could carry:

- (A) names: the patient's name and emergency contacts, the escort (RelatedPerson: dropped, and
  the Encounter's participant that named it), staff names (Practitioner), the `display` of every
  reference;
- (B) addresses finer than a state: the patient's address is dropped; a clinic's address keeps its
  state and country only;
- (C) dates: every date and date-time of a patient's resources is shifted by that patient's whole
  number of days (services/pseudonyms.py, the same draw as the de-identified outcome tables), so
  intervals within a patient stay exact to the second; a patient aged over 89 at the export has no
  birth date (ages over 89 are one category);
- (D-F) telephone, fax, email: every `telecom` is dropped;
- (H, R) record numbers, any other unique number: the MRN becomes the study id (the patient's
  resource id is the study id too); every other resource id, and every reference to it, becomes a
  keyed hash (HMAC-SHA-256 with a key drawn for this export only), so references still resolve
  inside the export but no id of the source appears and two exports cannot be joined;
- free text that may hold identifiers: narratives, notes, the consultation's indication, plan
  notes, the reasons typed for pump events, the side effects' notes, diagnoses, allergies and
  medications as typed (their codes, where ketaflow has one, stay; a required element left with
  no code says "withheld").

Text ketaflow writes itself from coded values (dose instructions, "Ketamine infusion 3
(induction)", code displays) stays. `DeIdentifier.record` rewrites one patient's resources;
`DeIdentifier.shared` the staff, clinics, network and chairs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from ketaflow.fhir import codes as c
from ketaflow.fhir.mapping import US_CORE, Resource

# Safe Harbor (45 CFR 164.514(b)(2)(i)(C)): ages over 89 are aggregated into one category.
AGE_TOP_CODE_YEARS = 90
# The text put where a required element held only free text.
WITHHELD = "withheld (free text)"
# The Patient identifier system of a study id (one export's pseudonym; not an identifier of the source).
STUDY_ID_SYSTEM = f"{c.CANONICAL_BASE}/sid/study-id"
# The meta.tag every de-identified resource carries (HL7 v3 ObservationValue "de-identified").
DEIDENTIFIED_TAG = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "DEID",
    "display": "deidentified",
}

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")
_SHARED = {"Practitioner", "PractitionerRole", "Organization", "Location"}


def shift_value(text: str, days: int) -> str:
    """A FHIR date (YYYY-MM-DD) or dateTime/instant moved by `days`; anything else unchanged
    (a year or year-month alone identifies no day and stays)."""
    if _DATE.fullmatch(text):
        return (date.fromisoformat(text) + timedelta(days=days)).isoformat()
    if _DATE_TIME.fullmatch(text):
        moved = datetime.fromisoformat(text.replace("Z", "+00:00")) + timedelta(days=days)
        out = moved.isoformat()
        return out.replace("+00:00", "Z") if text.endswith("Z") else out
    return text


def _age_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _coded_only(concept: dict[str, Any] | None) -> dict[str, Any] | None:
    """A CodeableConcept without its typed text: its codings (their displays as the text), or None."""
    if not concept or not concept.get("coding"):
        return None
    coding = concept["coding"]
    out: dict[str, Any] = {"coding": coding}
    shown = next((c["display"] for c in coding if c.get("display")), None)
    if shown:
        out["text"] = shown
    return out


class DeIdentifier:
    """One export's rewriting: `key` (random, drawn per export and never written) keys the hash of
    the resource ids; `today` is the export's date (for the over-89 rule)."""

    def __init__(self, key: bytes, today: date) -> None:
        if len(key) < 16:
            raise ValueError("the id key must hold at least 16 random bytes")
        self._key = key
        self._today = today
        self._study: dict[str, str] = {}  # source patient id -> study id

    def masked_id(self, resource_type: str, source_id: str) -> str:
        """The id a resource has in this export (a patient's: its study id)."""
        if resource_type == "Patient" and source_id in self._study:
            return self._study[source_id]
        digest = hmac.new(self._key, f"{resource_type}/{source_id}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def _reference(self, target: str) -> str:
        kind, _, ident = target.partition("/")
        return f"{kind}/{self.masked_id(kind, ident)}"

    def _walk(self, value: Any, days: int | None) -> Any:
        """References masked (their display dropped), dates shifted by `days` (None: kept)."""
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key == "reference" and isinstance(item, str) and "/" in item:
                    out[key] = self._reference(item)
                elif key == "display" and "reference" in value:
                    continue
                else:
                    out[key] = self._walk(item, days)
            return out
        if isinstance(value, list):
            return [self._walk(item, days) for item in value]
        if isinstance(value, str) and days is not None:
            return shift_value(value, days)
        return value

    def _finish(self, resource: Resource, days: int | None) -> Resource:
        resource.pop("text", None)  # the narrative
        resource.pop("note", None)
        out: Resource = self._walk(resource, days)
        out["id"] = self.masked_id(resource["resourceType"], resource["id"])
        meta = out.setdefault("meta", {})
        # US Core asks for the name, identifier and contact the research variant removes: claim only
        # the profiles that still hold (the vital-signs ones).
        profiles = [p for p in meta.get("profile", []) if not p.startswith(US_CORE)]
        if profiles:
            meta["profile"] = profiles
        else:
            meta.pop("profile", None)
        meta["tag"] = [*meta.get("tag", []), DEIDENTIFIED_TAG]
        return out

    def record(
        self, resources: Iterable[Resource], patient_id: str, study_id: str, shift_days: int
    ) -> list[Resource]:
        """One patient's resources (Patient first or not), de-identified; the escort is left out."""
        self._study[patient_id] = study_id
        out = []
        for resource in resources:
            rewritten = self._rewrite(dict(resource))
            if rewritten is not None:
                out.append(self._finish(rewritten, shift_days))
        return out

    def shared(self, resource: Resource) -> Resource:
        """A staff member, role, clinic, network or chair: names of people, telecoms, identifiers of
        staff and addresses finer than a state removed; ids masked; its dates are no patient's and stay."""
        kind = resource["resourceType"]
        if kind not in _SHARED:
            raise ValueError(f"{kind} is a patient's resource: use record()")
        out = dict(resource)
        out.pop("telecom", None)
        if kind == "Practitioner":
            out.pop("name", None)
            out.pop("identifier", None)
        if "address" in out:
            out["address"] = _state_only(out["address"])
        return self._finish(out, None)

    def _rewrite(self, r: Resource) -> Resource | None:
        kind = r["resourceType"]
        if kind == "RelatedPerson":
            return None
        if kind == "Patient":
            for key in ("name", "telecom", "address", "contact", "photo"):
                r.pop(key, None)
            study = self._study[r["id"]]
            r["identifier"] = [{"system": STUDY_ID_SYSTEM, "value": study}]
            born = r.get("birthDate")
            if (
                born
                and _DATE.fullmatch(born)
                and _age_years(date.fromisoformat(born), self._today) >= AGE_TOP_CODE_YEARS
            ):
                r.pop("birthDate")
        elif kind == "Encounter":
            r.pop("reasonCode", None)
            r["participant"] = [
                p
                for p in r.get("participant", [])
                if not p.get("individual", {}).get("reference", "").startswith("RelatedPerson/")
            ]
            if not r["participant"]:
                r.pop("participant")
            disposition = r.get("hospitalization", {}).get("dischargeDisposition")
            if disposition is not None:  # its text names the escort
                coded = _coded_only(disposition)
                r["hospitalization"] = {"dischargeDisposition": coded} if coded else {}
                if not r["hospitalization"]:
                    r.pop("hospitalization")
        elif kind == "Condition":
            coded = _coded_only(r.get("code"))
            if coded:
                r["code"] = coded
            else:
                r.pop("code", None)
        elif kind == "AllergyIntolerance":
            r.pop("code", None)
            r.pop("reaction", None)
        elif kind == "MedicationStatement":
            r["medicationCodeableConcept"] = _coded_only(r.get("medicationCodeableConcept")) or {
                "text": WITHHELD
            }
        elif kind == "CarePlan":
            r.pop("description", None)
        elif kind == "Provenance":
            r.pop("reason", None)
        elif kind == "AdverseEvent":
            event = r.get("event")
            if event and event.get("text"):
                # ketaflow writes "<kind>: <notes>"; the kind is a code of its own, the notes are typed.
                r["event"] = {**event, "text": event["text"].split(":", 1)[0]}
        return r


def _state_only(address: Any) -> Any:
    """An address (or list of them) reduced to its state and country."""
    if isinstance(address, list):
        kept = [_state_only(a) for a in address]
        return [a for a in kept if a]
    return {k: v for k, v in address.items() if k in ("state", "country")}
