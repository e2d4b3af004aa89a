"""Bulk FHIR export: every patient's record (of the network or one clinic) as NDJSON, one
`<Type>.ndjson` file per resource type (FHIR Bulk Data Access 2.0 output format).

The patients are read one at a time (each record mapped by services/fhir_record.py, then
forgotten), so memory stays that of one patient whatever the network's size; the staff, clinics,
network and chairs the records refer to are written once at the end, so every reference in the
export resolves inside it. Files are written as `<Type>.ndjson.part` and renamed only when the
whole export succeeded: a failed export leaves no file that looks complete.

`since` keeps the resources charted at or after it (meta.lastUpdated; the shared resources the
kept ones refer to are always written). `types` keeps those resource types only.

`deidentify=True` writes the research variant (ketaflow.fhir.deidentify: Safe Harbor identifiers
removed, ids masked, each patient's dates shifted by the same draw as the de-identified outcome
tables, services/pseudonyms.py); the patients are then written in a random order and the escort
(RelatedPerson) is not written.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.errors import InvalidInput, NotFound
from ketaflow.fhir import mapping as fm
from ketaflow.fhir.deidentify import DeIdentifier
from ketaflow.fhir.mapping import Resource
from ketaflow.services.fhir_record import clinical_resources, referenced_resources, shared_references
from ketaflow.services.pseudonyms import Pseudonyms
from ketaflow.store import models as m

# Every type the export writes (the patient-compartment types, then the shared ones).
EXPORT_TYPES = (
    "Patient",
    "AllergyIntolerance",
    "MedicationStatement",
    "Condition",
    "Consent",
    "CarePlan",
    "Encounter",
    "RelatedPerson",
    "MedicationRequest",
    "MedicationAdministration",
    "Provenance",
    "AdverseEvent",
    "Observation",
    "QuestionnaireResponse",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
)
SHARED = {"Practitioner", "PractitionerRole", "Organization", "Location"}


@dataclass
class ExportResult:
    out: Path
    patients: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    transaction_time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def resources(self) -> int:
        return sum(self.counts.values())


def parse_types(text: str | None) -> set[str] | None:
    """`--type Patient,Observation` -> the set; None (every type) when not given."""
    if not text:
        return None
    wanted = {t.strip() for t in text.split(",") if t.strip()}
    unknown = sorted(wanted - set(EXPORT_TYPES))
    if unknown:
        raise InvalidInput(
            f"Unknown resource type(s) {', '.join(unknown)}; the export has {', '.join(EXPORT_TYPES)}.",
            field="type",
        )
    return wanted


def parse_since(text: str | None) -> datetime | None:
    """`--since 2026-03-01` or `2026-03-01T12:00:00Z` (UTC when no offset is given)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"'{text}' is not a date and time: write it as 2026-03-01 or 2026-03-01T12:00:00Z.", field="since"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# A reference to a resource no one patient owns, in a resource's compact JSON (mapping.ref's shape).
_SHARED_REFERENCE = re.compile(r'"reference":"((?:Practitioner|Organization|Location)/[0-9a-f-]{36})"')


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class _Writers:
    """One open `.part` file per type, created when its first resource comes."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: dict[str, IO[str]] = {}
        self.counts: dict[str, int] = {}

    def write(self, resource: Resource) -> str:
        """Write the resource as one line; returns the line."""
        kind = resource["resourceType"]
        handle = self.files.get(kind)
        if handle is None:
            handle = self.files[kind] = (self.out / f"{kind}.ndjson.part").open("w", encoding="utf-8")
            self.counts[kind] = 0
        line = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
        handle.write(line)
        handle.write("\n")
        self.counts[kind] += 1
        return line

    def close(self, keep: bool) -> None:
        for kind, handle in self.files.items():
            handle.close()
            part = self.out / f"{kind}.ndjson.part"
            if keep:
                part.replace(self.out / f"{kind}.ndjson")
            else:
                part.unlink(missing_ok=True)


def _scope(db: Session, clinic_code: str) -> list[uuid.UUID]:
    clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == clinic_code))
    if clinic is None:
        codes = ", ".join(db.scalars(select(m.Clinic.code).order_by(m.Clinic.code)))
        raise NotFound(f"There is no clinic with code '{clinic_code}'; the clinics are: {codes}.")
    return [clinic.id]


def export_ndjson(
    engine: Engine,
    out: Path,
    *,
    clinic_code: str | None = None,
    clinic_ids: Collection[uuid.UUID] | None = None,
    since: datetime | None = None,
    types: Collection[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    deidentify: bool = False,
    pseudonyms: Pseudonyms | None = None,
) -> ExportResult:
    """Write the export into `out` (created if needed): the patients of the clinic `clinic_code`, or
    of `clinic_ids`, or of the whole network. `progress(done, total)` is called after each patient;
    an exception it raises (a cancelled job) stops the export and leaves no file. `deidentify`: the
    research variant, with the study ids and date shifts of `pseudonyms` (a new draw when None)."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(types) if types is not None else set(EXPORT_TYPES)
    masker: DeIdentifier | None = None
    if deidentify:
        wanted.discard("RelatedPerson")  # the escort: a name and a telephone number, nothing else
        pseudonyms = pseudonyms if pseudonyms is not None else Pseudonyms()
        masker = DeIdentifier(secrets.token_bytes(32), datetime.now(UTC).date())
    stamp = since.astimezone(UTC) if since is not None else None
    writers = _Writers(out)
    result = ExportResult(out=out, patients=0)
    kept = False
    try:
        with Session(engine) as db:
            if clinic_code is not None:
                clinic_ids = _scope(db, clinic_code)
            query = select(m.Patient.id).order_by(m.Patient.id)
            if clinic_ids is not None:
                query = query.where(m.Patient.clinic_id.in_(clinic_ids))
            patient_ids = list(db.scalars(query))
            if pseudonyms is not None and masker is not None:
                patient_ids = pseudonyms.shuffled(patient_ids)
            shared: set[str] = set()
            for done, pid in enumerate(patient_ids, start=1):
                patient = db.get(m.Patient, pid)
                assert patient is not None
                record = [fm.stamped(fm.patient(patient), patient.created_at)]
                record += clinical_resources(db, patient, wanted)
                kept_resources = []
                for resource in record:
                    if resource["resourceType"] not in wanted:
                        continue
                    updated = fm.last_updated(resource)
                    if stamp is not None and updated is not None and _moment(updated) < stamp:
                        continue
                    kept_resources.append(resource)
                if masker is None:
                    for resource in kept_resources:
                        shared.update(_SHARED_REFERENCE.findall(writers.write(resource)))
                else:
                    assert pseudonyms is not None
                    shared |= shared_references(kept_resources)
                    study_id, shift_days = pseudonyms.get(pid)
                    for resource in masker.record(kept_resources, str(pid), study_id, shift_days):
                        writers.write(resource)
                result.patients += 1
                db.expunge_all()  # one patient's rows in memory at a time
                if progress is not None:
                    progress(done, len(patient_ids))
            if "PractitionerRole" in wanted:
                roles = select(m.StaffRole)
                if clinic_ids is not None:
                    roles = roles.where(m.StaffRole.clinic_id.in_(clinic_ids))
                for role in db.scalars(roles.order_by(m.StaffRole.id)):
                    resource = fm.stamped(fm.practitioner_role(role), role.granted_at)
                    shared |= shared_references([resource])
                    writers.write(resource if masker is None else masker.shared(resource))
            for resource in referenced_resources(db, [], shared):
                if resource["resourceType"] in wanted:
                    writers.write(resource if masker is None else masker.shared(resource))
        kept = True
    finally:
        writers.close(keep=kept)
    result.counts = dict(writers.counts)
    result.seconds = time.perf_counter() - started
    return result
