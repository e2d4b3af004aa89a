"""The FHIR REST reads: one resource by id, a search, a patient's everything; scoped and audited.

Access follows the rest of ketaflow (services/permissions.py): the Patient resource and the
escort (RelatedPerson) are the chart's administrative part (READ_CHART: the front desk too);
every other resource is clinical (READ_CLINICAL: no front desk), and only at the patient's
clinic. Every read and search is audited like a page read (`fhir.read`, `fhir.search`,
`fhir.patient_everything`).

A read or search works on the one patient's record, mapped whole (services/fhir_record.py) and
narrowed by the search parameters (ketaflow.fhir.search): a patient's record is dozens to a
few hundred rows, so this stays simple and always agrees with the export.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.errors import InvalidInput, NotFound
from ketaflow.fhir import mapping as fm
from ketaflow.fhir.capability import INCLUDES, SEARCHABLE
from ketaflow.fhir.mapping import Resource
from ketaflow.fhir.search import include_targets, narrowed
from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.fhir_record import SHARED_TYPES, clinical_resources, referenced_resources
from ketaflow.services.permissions import Action, allowed, require
from ketaflow.store import models as m

ADMINISTRATIVE = {"Patient", "RelatedPerson"}
# The staff, their roles, clinics, network and chairs: no patient's; readable by anyone holding a
# role at a clinic they belong to (a staff member: at a clinic where they hold a role too).
SHARED = ("Practitioner", "PractitionerRole", "Organization", "Location")

# Resource type -> the record kinds its ids name: (model, how the record leads to its patient:
# "patient_id" directly, or "session_id" through its infusion session).
_RECORDS: dict[str, tuple[tuple[Any, str], ...]] = {
    "Patient": ((m.Patient, "self"),),
    "Encounter": ((m.InfusionSession, "patient_id"), (m.Consultation, "patient_id")),
    "Condition": ((m.Diagnosis, "patient_id"),),
    "AllergyIntolerance": ((m.Allergy, "patient_id"),),
    "MedicationStatement": ((m.Medication, "patient_id"),),
    "Consent": ((m.Consent, "patient_id"),),
    "CarePlan": ((m.TreatmentPlan, "patient_id"),),
    "MedicationRequest": ((m.DoseOrder, "session_id"),),
    "MedicationAdministration": ((m.InfusionSession, "patient_id"),),
    "RelatedPerson": ((m.InfusionSession, "patient_id"),),
    "Provenance": ((m.AdministrationEvent, "session_id"),),
    "Observation": (
        (m.VitalSign, "patient_id"),
        (m.BodyMeasurement, "patient_id"),
        (m.QuestionnaireResponse, "patient_id"),
    ),
    "QuestionnaireResponse": ((m.QuestionnaireResponse, "patient_id"),),
    "AdverseEvent": ((m.SideEffect, "session_id"),),
}


def _not_found(resource_type: str, resource_id: str) -> NotFound:
    return NotFound(f"There is no {resource_type} with id {resource_id}.")


def supported(resource_type: str) -> None:
    if resource_type not in SEARCHABLE:
        kinds = ", ".join(sorted(SEARCHABLE))
        raise NotFound(f"This server does not serve {resource_type}; it serves {kinds}.")


def _owner(db: Session, resource_type: str, resource_id: str) -> m.Patient:
    try:
        record_id, _part = fm.record_of(resource_id)
    except ValueError:
        raise _not_found(resource_type, resource_id) from None
    for model, link in _RECORDS[resource_type]:
        row = db.get(model, record_id)
        if row is None:
            continue
        if link == "self":
            return row  # type: ignore[no-any-return]
        if link == "session_id":
            session = db.get(m.InfusionSession, row.session_id)
            assert session is not None
            patient_id = session.patient_id
        else:
            patient_id = row.patient_id
        found = db.get(m.Patient, patient_id)
        assert found is not None
        return found
    raise _not_found(resource_type, resource_id)


def _action(resource_type: str) -> Action:
    return Action.READ_CHART if resource_type in ADMINISTRATIVE else Action.READ_CLINICAL


def _record(db: Session, patient: m.Patient, resource_type: str) -> list[Resource]:
    if resource_type == "Patient":
        return [fm.stamped(fm.patient(patient), patient.created_at)]
    return [r for r in clinical_resources(db, patient, {resource_type}) if r["resourceType"] == resource_type]


def _my_clinics(who: CurrentUser) -> set[uuid.UUID]:
    return {uuid.UUID(c) for c, roles in who.roles.items() if roles}


def shared_in_scope(db: Session, clinic_ids: set[uuid.UUID]) -> list[Resource]:
    """The staff (and their roles), the clinics, their network and chairs of these clinics."""
    roles = list(
        db.scalars(select(m.StaffRole).where(m.StaffRole.clinic_id.in_(clinic_ids)).order_by(m.StaffRole.id))
    )
    chairs = db.scalars(select(m.Chair.id).where(m.Chair.clinic_id.in_(clinic_ids)))
    targets = {f"Practitioner/{r.user_id}" for r in roles}
    targets |= {f"{kind}/{c}" for c in clinic_ids for kind in ("Organization", "Location")}
    targets |= {f"Location/{c}" for c in chairs}
    out = [fm.stamped(fm.practitioner_role(r), r.granted_at) for r in roles]
    return out + referenced_resources(db, [], targets)


def _read_shared(db: Session, who: CurrentUser, resource_type: str, resource_id: str) -> Resource:
    found = next(
        (
            r
            for r in shared_in_scope(db, _my_clinics(who))
            if r["resourceType"] == resource_type and r["id"] == resource_id
        ),
        None,
    )
    if found is None:  # or not at a clinic of yours: the same answer, nothing revealed
        raise _not_found(resource_type, resource_id)
    record_read(
        db,
        who.actor(),
        "fhir.read",
        resource_type,
        uuid.UUID(resource_id),
        details={"resource": f"{resource_type}/{resource_id}"},
    )
    return found


def read(db: Session, who: CurrentUser, resource_type: str, resource_id: str) -> Resource:
    """One resource, if `who` may read it; audited."""
    supported(resource_type)
    if resource_type in SHARED:
        return _read_shared(db, who, resource_type, resource_id)
    patient = _owner(db, resource_type, resource_id)
    require(who, _action(resource_type), patient.clinic_id)
    found = next((r for r in _record(db, patient, resource_type) if r["id"] == resource_id), None)
    if found is None:  # e.g. a record since corrected: its amendment has the new id
        raise _not_found(resource_type, resource_id)
    record_read(
        db,
        who.actor(),
        "fhir.read",
        resource_type,
        fm.record_of(resource_id)[0],
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        details={"resource": f"{resource_type}/{resource_id}"},
    )
    return found


@dataclass(frozen=True)
class SearchParams:
    patient: str | None = None
    codes: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    last_updated: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    identifier: str | None = None
    family: str | None = None
    birthdate: str | None = None
    includes: tuple[str, ...] = ()
    unknown: tuple[str, ...] = field(default=())


def _patient_id(reference: str) -> uuid.UUID:
    ident = reference.removeprefix("Patient/")
    try:
        return uuid.UUID(ident)
    except ValueError:
        raise InvalidInput(
            f"'{reference}' is not a patient's id: give ?patient=<id> as in Patient/<id>.", field="patient"
        ) from None


def search(db: Session, who: CurrentUser, resource_type: str, params: SearchParams) -> list[Resource]:
    """The resources of one type that match; Patient searches cover the user's clinics, the others
    one patient (name them with `patient` or `subject`). Audited."""
    supported(resource_type)
    if params.unknown:
        extra = ("_lastUpdated", "_count", "_offset") + (("_include",) if resource_type in INCLUDES else ())
        allowed_names = ", ".join(SEARCHABLE[resource_type] + extra)
        raise InvalidInput(
            f"{resource_type} cannot be searched by {', '.join(params.unknown)}; use {allowed_names}.",
            field=params.unknown[0],
        )
    for one in params.includes:
        if one.partition(":")[0] != resource_type:
            raise InvalidInput(
                f"_include={one} names another type than the one searched ({resource_type}).",
                field="_include",
            )
    include_targets([], params.includes, INCLUDES)  # an _include not offered is refused now
    if resource_type == "Patient":
        return _search_patients(db, who, params)
    if resource_type in SHARED:
        return _search_shared(db, who, resource_type, params)
    if params.patient is None:
        raise InvalidInput(
            f"Name the patient: {resource_type}?patient=<id> (a search over every patient is a bulk export).",
            field="patient",
        )
    patient = db.get(m.Patient, _patient_id(params.patient))
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, _action(resource_type), patient.clinic_id)
    found = narrowed(
        _record(db, patient, resource_type),
        codes=params.codes,
        dates=params.dates,
        last_updated=params.last_updated,
    )
    record_read(
        db,
        who.actor(),
        "fhir.search",
        resource_type,
        patient.id,
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        details={"found": len(found)},
    )
    return found


def _search_patients(db: Session, who: CurrentUser, params: SearchParams) -> list[Resource]:
    clinics = [uuid.UUID(c) for c in who.roles if allowed(who, Action.READ_CHART, uuid.UUID(c))]
    query = select(m.Patient).where(m.Patient.clinic_id.in_(clinics))
    if params.ids:
        query = query.where(m.Patient.id.in_([_patient_id(i) for i in params.ids]))
    if params.identifier:
        query = query.where(m.Patient.mrn == params.identifier.rpartition("|")[2])
    if params.family:
        query = query.where(m.Patient.family_name.ilike(params.family.replace("%", r"\%") + "%", escape="\\"))
    if params.birthdate:
        try:
            born = date.fromisoformat(params.birthdate.removeprefix("eq"))
        except ValueError:
            raise InvalidInput("Give the birth date as 1980-05-17.", field="birthdate") from None
        query = query.where(m.Patient.date_of_birth == born)
    patients = list(db.scalars(query.order_by(m.Patient.family_name, m.Patient.given_name, m.Patient.id)))
    record_read(db, who.actor(), "fhir.search", "Patient", None, details={"found": len(patients)})
    found = [fm.stamped(fm.patient(p), p.created_at) for p in patients]
    return narrowed(found, last_updated=params.last_updated)


def _search_shared(db: Session, who: CurrentUser, resource_type: str, params: SearchParams) -> list[Resource]:
    found = [r for r in shared_in_scope(db, _my_clinics(who)) if r["resourceType"] == resource_type]
    if params.ids:
        found = [r for r in found if r["id"] in params.ids]
    found = narrowed(found, last_updated=params.last_updated)
    record_read(db, who.actor(), "fhir.search", resource_type, None, details={"found": len(found)})
    return found


def included(
    db: Session, who: CurrentUser, resource_type: str, page: list[Resource], params: SearchParams
) -> list[Resource]:
    """The resources a page of matches refers to through its `_include` parameters (each once, none
    that is already a match): a patient's (the same patient the search was of, so the search's
    access check covers them) or the staff, clinics and chairs."""
    targets = include_targets(page, params.includes, INCLUDES)
    if not targets:
        return []
    matched = {f"{r['resourceType']}/{r['id']}" for r in page}
    wanted = [t for t in targets if t not in matched]
    shared = {t for t in wanted if t.partition("/")[0] in (*SHARED_TYPES, "PractitionerRole")}
    out: dict[str, Resource] = {}
    if shared:
        for r in shared_in_scope(db, _my_clinics(who)):
            key = f"{r['resourceType']}/{r['id']}"
            if key in shared:
                out[key] = r
    records: dict[tuple[uuid.UUID, str], list[Resource]] = {}
    for target in wanted:
        kind, _, ident = target.partition("/")
        if target in shared or kind not in _RECORDS:
            continue
        try:
            patient = _owner(db, kind, ident)
        except NotFound:  # a reference to a record since corrected: nothing to include
            continue
        require(who, _action(kind), patient.clinic_id)
        if (patient.id, kind) not in records:
            records[(patient.id, kind)] = _record(db, patient, kind)
        found = next((r for r in records[(patient.id, kind)] if r["id"] == ident), None)
        if found is not None:
            out[target] = found
    return [out[t] for t in wanted if t in out]
