"""A patient's record as FHIR R4 resources: gathered from the store, mapped by ketaflow.fhir.

`patient_resources` reads every current (not amended) charted fact of one patient and maps it
with the pure functions of `ketaflow.fhir.mapping`; the staff, clinics, network and chairs the
record refers to are added, so every reference inside resolves. `patient_record` is the
audited, permission-checked read behind `Patient/{id}/$everything` and the patient's "download
my record" (a collection Bundle).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.errors import NotFound
from ketaflow.fhir import mapping as fm
from ketaflow.fhir.mapping import Resource
from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.infusion import charted_vitals
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.facts import current


def _current(db: Session, model: Any, *where: Any) -> list[Any]:
    return list(db.scalars(current(model).where(*where)))


# The resource types made from each part of the record (to map only what a search asks for).
_SESSION_TYPES = {
    "Encounter",
    "RelatedPerson",
    "MedicationRequest",
    "MedicationAdministration",
    "Provenance",
    "AdverseEvent",
}


def clinical_resources(
    db: Session, patient: m.Patient, types: Collection[str] | None = None
) -> list[Resource]:
    """Every clinical resource of one patient (not the Patient itself, nor who/where it refers to);
    only those of `types` when given (the others may still come along: filter if it matters)."""
    pid = patient.id
    wanted = set(types) if types is not None else None

    def want(*kinds: str) -> bool:
        return wanted is None or bool(wanted & set(kinds))

    out: list[Resource] = []
    if want("Encounter"):
        for consult in _current(db, m.Consultation, m.Consultation.patient_id == pid):
            out.append(fm.stamped(fm.consultation_encounter(consult), consult.recorded_at))
    if want("Condition"):
        for diagnosis in _current(db, m.Diagnosis, m.Diagnosis.patient_id == pid):
            out.append(fm.stamped(fm.condition(diagnosis), diagnosis.recorded_at))
    if want("AllergyIntolerance"):
        for allergy in _current(db, m.Allergy, m.Allergy.patient_id == pid):
            out.append(fm.stamped(fm.allergy(allergy), allergy.recorded_at))
    if want("MedicationStatement"):
        for medication in _current(db, m.Medication, m.Medication.patient_id == pid):
            out.append(fm.stamped(fm.medication_statement(medication), medication.recorded_at))
    if want("Consent"):
        for row in _current(db, m.Consent, m.Consent.patient_id == pid):
            out.append(fm.stamped(fm.consent(row), row.recorded_at))
    if want("CarePlan"):
        for plan in db.scalars(select(m.TreatmentPlan).where(m.TreatmentPlan.patient_id == pid)):
            out.append(fm.stamped(fm.care_plan(plan), plan.updated_at))
    if want("Observation"):
        for measurement in _current(db, m.BodyMeasurement, m.BodyMeasurement.patient_id == pid):
            out.extend(fm.stamped(r, measurement.recorded_at) for r in fm.body_observations(measurement))
        # As charted and corrected, less monitor readings a nurse marked as artefact (as every read).
        for vital in db.scalars(charted_vitals().where(m.VitalSign.patient_id == pid)):
            out.extend(fm.stamped(r, vital.recorded_at) for r in fm.vital_sign_observations(vital))
    if want("Observation", "QuestionnaireResponse"):
        for response in _current(db, m.QuestionnaireResponse, m.QuestionnaireResponse.patient_id == pid):
            out.append(fm.stamped(fm.questionnaire_response(response), response.recorded_at))
            out.extend(fm.stamped(r, response.recorded_at) for r in fm.score_observations(response))
    if want(*_SESSION_TYPES):
        sessions = list(db.scalars(select(m.InfusionSession).where(m.InfusionSession.patient_id == pid)))
        out.extend(_infusions(db, patient, sessions))
    return out


def _by_session(rows: Iterable[Any]) -> dict[uuid.UUID, list[Any]]:
    grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.session_id].append(row)
    return grouped


def _infusions(db: Session, patient: m.Patient, sessions: list[m.InfusionSession]) -> list[Resource]:
    if not sessions:
        return []
    ids = [s.id for s in sessions]
    orders = _by_session(_current(db, m.DoseOrder, m.DoseOrder.session_id.in_(ids)))
    events = _by_session(_current(db, m.AdministrationEvent, m.AdministrationEvent.session_id.in_(ids)))
    discharges = _by_session(_current(db, m.Discharge, m.Discharge.session_id.in_(ids)))
    effects = _by_session(_current(db, m.SideEffect, m.SideEffect.session_id.in_(ids)))
    appointments = {
        a.id: a
        for a in db.scalars(
            select(m.Appointment).where(m.Appointment.id.in_([s.appointment_id for s in sessions]))
        )
    }
    out: list[Resource] = []
    for session in sessions:
        pump = sorted(events.get(session.id, []), key=lambda e: e.occurred_at)
        discharge = max(discharges.get(session.id, []), key=lambda d: d.discharged_at, default=None)
        appointment = appointments.get(session.appointment_id)
        charted = [
            r.recorded_at for r in (*pump, *orders.get(session.id, []), *discharges.get(session.id, []))
        ]
        encounter = fm.infusion_encounter(
            session,
            started_at=pump[0].occurred_at if pump else None,
            discharge=discharge,
            appointment_status=str(appointment.status) if appointment else None,
        )
        out.append(fm.stamped(encounter, max(charted, default=session.opened_at)))
        if discharge is not None and discharge.escort_name:
            driver = fm.escort(
                session,
                patient.id,
                discharge.escort_name,
                discharge.escort_phone,
                discharge.escort_relationship,
            )
            out.append(fm.stamped(driver, discharge.recorded_at))
        order = max(orders.get(session.id, []), key=lambda o: o.ordered_at, default=None)
        for each in orders.get(session.id, []):
            request = fm.medication_request(each, patient.id, done=any(str(e.kind) == "stop" for e in pump))
            out.append(fm.stamped(request, max([each.recorded_at, *(e.recorded_at for e in pump)])))
        if pump:
            given = fm.medication_administration(session, pump, order, patient.id)
            out.append(fm.stamped(given, max(e.recorded_at for e in pump)))
            out.extend(fm.stamped(fm.pump_event_provenance(e), e.recorded_at) for e in pump)
        for effect in effects.get(session.id, []):
            if effect.is_adverse_event and pump:
                out.append(fm.stamped(fm.adverse_event(effect, patient.id), effect.recorded_at))
    return out


SHARED_TYPES = ("Practitioner", "Organization", "Location")


def shared_references(resources: Iterable[Resource]) -> set[str]:
    """The references to staff, clinics, the network and chairs (resources no one patient owns)."""
    return {t for r in resources for t in fm.references(r) if t.partition("/")[0] in SHARED_TYPES}


def referenced_resources(
    db: Session, resources: list[Resource], targets: Iterable[str] = ()
) -> list[Resource]:
    """The staff, clinics, network and chairs the resources (and `targets`, "Type/id") refer to, each once."""
    wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
    for target in shared_references(resources) | set(targets):
        kind, _, ident = target.partition("/")
        wanted[kind].add(uuid.UUID(ident))
    out: list[Resource] = []
    users = list(db.scalars(select(m.StaffUser).where(m.StaffUser.id.in_(wanted["Practitioner"]))))
    out.extend(fm.stamped(fm.practitioner(u), u.created_at) for u in users)
    place_ids = wanted["Organization"] | wanted["Location"]
    clinics = list(db.scalars(select(m.Clinic).where(m.Clinic.id.in_(place_ids))))
    chairs = list(db.scalars(select(m.Chair).where(m.Chair.id.in_(place_ids))))
    clinic_ids = {c.id for c in clinics}
    extra = {ch.clinic_id for ch in chairs} - clinic_ids
    clinics += list(db.scalars(select(m.Clinic).where(m.Clinic.id.in_(extra))))
    org_ids = {c.organization_id for c in clinics} | (wanted["Organization"] - {c.id for c in clinics})
    for org in db.scalars(select(m.Organization).where(m.Organization.id.in_(org_ids))):
        out.append(fm.stamped(fm.organization(org), org.created_at))
    names = {}
    for clinic in clinics:
        names[clinic.id] = clinic.name
        out.append(fm.stamped(fm.clinic_organization(clinic), clinic.created_at))
        out.append(fm.stamped(fm.clinic_location(clinic), clinic.created_at))
    out.extend(fm.chair_location(chair, names[chair.clinic_id]) for chair in chairs)
    return out


def patient_resources(db: Session, patient_id: uuid.UUID) -> list[Resource]:
    """The patient, their whole clinical record, and everything it refers to: every reference resolves."""
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    resources = [fm.stamped(fm.patient(patient), patient.created_at), *clinical_resources(db, patient)]
    return resources + referenced_resources(db, resources)


def patient_record(
    db: Session,
    who: CurrentUser,
    patient_id: uuid.UUID,
    *,
    base_url: str,
    now: datetime,
    searchset: bool = False,
) -> Resource:
    """The patient's whole record as a collection Bundle (a searchset for `Patient/{id}/$everything`),
    for clinical staff of their clinic; audited."""
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, Action.READ_CLINICAL, patient.clinic_id)
    resources = patient_resources(db, patient_id)
    if searchset:
        own = f"{base_url.rstrip('/')}/Patient/{patient_id}/$everything"
        bundle = fm.searchset_bundle(resources, len(resources), {"self": own}, now, base_url)
    else:
        bundle = fm.collection_bundle(resources, now, base_url)
    record_read(
        db,
        who.actor(),
        "fhir.patient_everything",
        "patient",
        patient.id,
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        details={"resources": len(bundle["entry"])},
    )
    return bundle
