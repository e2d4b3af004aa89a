"""ketaflow records to FHIR R4 resources: pure functions, no database or web access.

Each function takes one record (a row of ketaflow's store, or anything with the same
attributes) and the records it needs beside it, and returns the resource as a JSON-ready dict,
ready for the ``fhir.resources`` R4B model of its type (:func:`checked`, which the tests run on
every emitted resource; not run on each export, where it would cost 0.5 ms a resource, two
thirds of the mapping's time, for a shape the tests already fix). The codes come
from :mod:`ketaflow.fhir.codes`, the one table of them, with their sources.

FHIR version: R4 (4.0.1), the version US Core 6.1.0 is built on. ``fhir.resources`` 8.x has no
R4 package, so the models used to check the shape are its ``R4B`` ones. For the types emitted
here R4 and R4B have the same element paths, cardinalities, types and bindings: checked by
diffing the core StructureDefinitions for Patient, Practitioner(Role), Organization, Location,
Encounter, Condition, Consent, CarePlan, MedicationRequest, MedicationAdministration,
Observation, QuestionnaireResponse, AdverseEvent, Provenance, AuditEvent, Bundle and
CapabilityStatement (/work/shared/reference/interop.md); RelatedPerson, AllergyIntolerance and
MedicationStatement, which that diff did not cover, and every type above, are compared by
tests/integration/fhir/test_validation.py (each top-level element of the R4 StructureDefinition
against the R4B model: same names, same repetition). So an R4B-valid resource of these types is
R4-valid in shape; the tests also validate every emitted type against the official R4 JSON
Schema and against the R4 vital-signs and US Core 6.1.0 profiles (tests/integration/fhir/).

Resource ids are the records' own UUIDs; a record that becomes several resources (a set of
vital signs: blood pressure, heart rate, ...) gives each its UUID with the part's name after it
(:func:`derived_id`: "<uuid>-bp"), so ids are stable from one export to the next and a read
finds its record.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from html import escape
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from ketaflow import audit_codes
from ketaflow.fhir import codes as c

Resource = dict[str, Any]
# A ketaflow record: a store row or any object with the same attributes (duck-typed, so this
# module needs no database import).
Row = Any

VITALS_PROFILE = "http://hl7.org/fhir/StructureDefinition/"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"


def derived_id(record_id: uuid.UUID | str, part: str) -> str:
    """A stable id for one of several resources made from one record: the record's UUID and the
    part ("bp", "hr", "total"...), so a read of the resource finds its record (:func:`record_of`)."""
    return f"{record_id}-{part}"


def record_of(resource_id: str) -> tuple[uuid.UUID, str | None]:
    """The record a resource id names, and the part of it (None for a whole record).

    Raises ValueError for an id that is not one of ketaflow's."""
    return uuid.UUID(resource_id[:36]), (resource_id[37:] if len(resource_id) > 36 else None)


def ref(resource_type: str, record_id: uuid.UUID | str | None, display: str | None = None) -> dict[str, str]:
    out = {"reference": f"{resource_type}/{record_id}"}
    if display:
        out["display"] = display
    return out


def instant(moment: datetime) -> str:
    """An ISO 8601 date-time with its offset (UTC when the record carries none)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(value: date) -> str:
    return value.isoformat()


def concept(key: str, text: str | None = None) -> dict[str, Any]:
    code = c.CODES[key]
    return {"coding": [code.coding()], "text": text or code.display}


def quantity(value: float, unit: str, ucum: str | None = None) -> dict[str, Any]:
    return {"value": _number(value), "unit": unit, "system": c.UCUM, "code": ucum or unit}


def _number(value: float) -> float | int:
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else round(as_float, 4)


def _narrative(text: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{escape(text)}</div>'}


def _meta(*profiles: str) -> dict[str, Any]:
    return {"profile": list(profiles)} if profiles else {}


def checked(resource: Resource) -> Resource:
    """The resource, after its R4B model accepted it (unknown keys, wrong types, missing required
    elements and malformed dates raise pydantic's ValidationError: a mapping bug, not bad input)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def _strip(resource: Resource) -> Resource:
    """Drop empty values (FHIR allows no nulls, empty strings or empty lists)."""
    return _clean_dict(resource)


def _clean_dict(value: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        if isinstance(item, dict):
            item = _clean_dict(item)
            if not item:
                continue
        elif isinstance(item, list):
            item = _clean_list(item)
            if not item:
                continue
        elif item is None or item == "":
            continue
        out[key] = item
    return out


def _clean_list(value: list[Any]) -> list[Any]:
    out = []
    for item in value:
        if isinstance(item, dict):
            item = _clean_dict(item)
            if not item:
                continue
        elif isinstance(item, list):
            item = _clean_list(item)
            if not item:
                continue
        elif item is None or item == "":
            continue
        out.append(item)
    return out


def stamped(resource: Resource, when: datetime | None) -> Resource:
    """The resource with meta.lastUpdated: when its record (or the last of its records) was charted."""
    if when is not None:
        resource.setdefault("meta", {})["lastUpdated"] = instant(when)
    return resource


def last_updated(resource: Resource) -> str | None:
    found: str | None = resource.get("meta", {}).get("lastUpdated")
    return found


# ---- organization, places, people ---------------------------------------------------------------


def organization(org: Row) -> Resource:
    """The clinic network."""
    return _strip(
        {
            "resourceType": "Organization",
            "id": str(org.id),
            "meta": _meta(US_CORE + "us-core-organization"),
            "active": True,
            "name": org.name,
        }
    )


def clinic_organization(clinic: Row) -> Resource:
    """A clinic as an Organization, part of the network."""
    return _strip(
        {
            "resourceType": "Organization",
            "id": str(clinic.id),
            "meta": _meta(US_CORE + "us-core-organization"),
            "identifier": [{"system": c.CLINIC_SYSTEM, "value": clinic.code}],
            "active": True,
            "name": clinic.name,
            "telecom": [{"system": "phone", "value": clinic.phone}] if clinic.phone else [],
            "address": [_clinic_address(clinic)],
            "partOf": ref("Organization", clinic.organization_id),
        }
    )


def _clinic_address(clinic: Row) -> dict[str, Any]:
    return {
        "line": [clinic.address_line],
        "city": clinic.city,
        "state": clinic.region,
        "postalCode": clinic.postal_code,
        "country": clinic.country,
    }


def clinic_location(clinic: Row) -> Resource:
    """A clinic's site as a Location, managed by the clinic's Organization."""
    return _strip(
        {
            "resourceType": "Location",
            "id": str(clinic.id),
            "meta": _meta(US_CORE + "us-core-location"),
            "status": "active",
            "name": clinic.name,
            "mode": "instance",
            "telecom": [{"system": "phone", "value": clinic.phone}] if clinic.phone else [],
            "address": _clinic_address(clinic),
            "managingOrganization": ref("Organization", clinic.id),
        }
    )


def chair_location(chair: Row, clinic_name: str) -> Resource:
    """An infusion chair, a Location inside its clinic's."""
    return _strip(
        {
            "resourceType": "Location",
            "id": str(chair.id),
            "meta": _meta(US_CORE + "us-core-location"),
            "status": "active" if chair.active else "inactive",
            "name": f"{clinic_name}, {chair.label}",
            "mode": "instance",
            "physicalType": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                        "code": "bd",
                        "display": "Bed",
                    }
                ],
                "text": "Infusion chair",
            },
            "managingOrganization": ref("Organization", chair.clinic_id),
            "partOf": ref("Location", chair.clinic_id),
        }
    )


def _human_name(full_name: str) -> dict[str, Any]:
    parts = full_name.split()
    if len(parts) < 2:
        return {"text": full_name, "family": full_name}
    return {"text": full_name, "family": parts[-1], "given": parts[:-1]}


def practitioner(user: Row) -> Resource:
    """A staff member (no password, no second factor: only who they are)."""
    return _strip(
        {
            "resourceType": "Practitioner",
            "id": str(user.id),
            "meta": _meta(US_CORE + "us-core-practitioner"),
            "identifier": [{"system": c.STAFF_SYSTEM, "value": str(user.id)}],
            "active": bool(user.active),
            "name": [_human_name(user.full_name)],
            "telecom": [{"system": "email", "value": user.email, "use": "work"}],
        }
    )


def practitioner_role(role: Row) -> Resource:
    """One role a staff member holds at one clinic."""
    return _strip(
        {
            "resourceType": "PractitionerRole",
            "id": str(role.id),
            "active": True,
            "practitioner": ref("Practitioner", role.user_id),
            "organization": ref("Organization", role.clinic_id),
            "location": [ref("Location", role.clinic_id)],
            "code": [{"text": str(role.role).replace("_", " ")}],
            "period": {"start": instant(role.granted_at)} if role.granted_at else None,
        }
    )


_GENDER = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}


def patient(row: Row) -> Resource:
    """A patient on the US Core Patient profile: MRN, name, gender, birth date, contacts."""
    contact = []
    if row.emergency_contact_name:
        contact.append(
            {
                "relationship": [{"text": row.emergency_contact_relationship or "emergency contact"}],
                "name": {"text": row.emergency_contact_name},
                "telecom": (
                    [{"system": "phone", "value": row.emergency_contact_phone}]
                    if row.emergency_contact_phone
                    else []
                ),
            }
        )
    telecom = []
    if row.phone:
        telecom.append({"system": "phone", "value": row.phone})
    if row.email:
        telecom.append({"system": "email", "value": row.email})
    return _strip(
        {
            "resourceType": "Patient",
            "id": str(row.id),
            "meta": _meta(US_CORE + "us-core-patient"),
            "identifier": [
                {
                    "use": "usual",
                    "type": concept("medical_record_number"),
                    "system": f"{c.MRN_SYSTEM}/{row.organization_id}",
                    "value": row.mrn,
                }
            ],
            "active": True,
            "name": [
                {
                    "use": "official",
                    "text": f"{row.given_name} {row.family_name}",
                    "family": row.family_name,
                    "given": [row.given_name],
                }
            ],
            "telecom": telecom,
            "gender": _GENDER[str(row.sex)],
            "birthDate": day(row.date_of_birth),
            "address": [{"text": row.address}] if row.address else [],
            "contact": contact,
            "managingOrganization": ref("Organization", row.clinic_id),
        }
    )


def escort(
    session: Row, patient_id: uuid.UUID, name: str, phone: str | None, relationship: str | None
) -> Resource:
    """The person who drives the patient home after an infusion (named at discharge)."""
    return _strip(
        {
            "resourceType": "RelatedPerson",
            "id": derived_id(session.id, "escort"),
            "meta": _meta(US_CORE + "us-core-relatedperson"),
            "active": True,
            "patient": ref("Patient", patient_id),
            "relationship": [{"text": relationship or "escort"}],
            "name": [{"text": name}],
            "telecom": [{"system": "phone", "value": phone}] if phone else [],
        }
    )


# ---- encounters --------------------------------------------------------------------------------


def infusion_encounter(
    session: Row,
    *,
    started_at: datetime | None,
    discharge: Row | None,
    appointment_status: str | None = None,
) -> Resource:
    """An infusion visit: the chair, the nurse, the escort who takes the patient home, the discharge.

    Finished once discharged; in progress while the infusion runs or recovery lasts; planned
    before the pump started."""
    start = started_at or session.opened_at
    participants: list[dict[str, Any]] = []
    if session.nurse_id:
        participants.append(
            {
                "type": [
                    {
                        "coding": [
                            {
                                "system": c.PARTICIPATION_TYPE,
                                "code": "PPRF",
                                "display": "primary performer",
                            }
                        ]
                    }
                ],
                "individual": ref("Practitioner", session.nurse_id),
            }
        )
    if discharge is not None and discharge.escort_name:
        participants.append(
            {
                "type": [concept("escort")],
                "individual": ref("RelatedPerson", derived_id(session.id, "escort")),
            }
        )
    if discharge is not None:
        status = "finished"
    elif appointment_status == "cancelled":
        status = "cancelled"
    elif started_at is not None:
        status = "in-progress"
    else:
        status = "arrived"
    hospitalization = None
    if discharge is not None:
        hospitalization = {
            "dischargeDisposition": concept(
                "discharged_home",
                "Home with "
                + (discharge.escort_name or discharge.transport_arranged or "escort")
                + f"; recovery score {discharge.recovery_score} ({discharge.recovery_score_kind})",
            )
        }
    location = (
        [{"location": ref("Location", session.chair_id), "status": "completed"}] if session.chair_id else []
    )
    return _strip(
        {
            "resourceType": "Encounter",
            "id": str(session.id),
            "meta": _meta(US_CORE + "us-core-encounter"),
            "status": status,
            "class": {"system": c.ACT_CODE, "code": "AMB", "display": "ambulatory"},
            "type": [
                concept(
                    "infusion_visit",
                    f"Ketamine infusion {session.series_number} ({str(session.phase)})",
                )
            ],
            "subject": ref("Patient", session.patient_id),
            "participant": participants,
            "period": {
                "start": instant(start),
                "end": instant(discharge.discharged_at) if discharge is not None else None,
            },
            "hospitalization": hospitalization,
            "location": location,
            "serviceProvider": ref("Organization", session.clinic_id),
        }
    )


def consultation_encounter(consult: Row) -> Resource:
    """A psychiatrist's consultation (the eligibility screen before a course)."""
    return _strip(
        {
            "resourceType": "Encounter",
            "id": str(consult.id),
            "meta": _meta(US_CORE + "us-core-encounter"),
            "status": "finished",
            "class": {"system": c.ACT_CODE, "code": "AMB", "display": "ambulatory"},
            "type": [concept("consultation_visit")],
            "subject": ref("Patient", consult.patient_id),
            "participant": [{"individual": ref("Practitioner", consult.psychiatrist_id)}],
            "period": {"start": instant(consult.held_at)},
            "reasonCode": [{"text": consult.indication}],
            "serviceProvider": ref("Organization", consult.clinic_id),
        }
    )


# ---- problems, consent, plans ----------------------------------------------------------------------

_CLINICAL_STATUS = {"active": "active", "resolved": "resolved", "stopped": "inactive"}


def condition(diagnosis: Row) -> Resource:
    """A diagnosis (ICD-10-CM where ketaflow has the code) on the problem list."""
    status = str(diagnosis.status)
    coding = [{"system": c.ICD10CM, "code": diagnosis.code}] if diagnosis.code else []
    resource: Resource = {
        "resourceType": "Condition",
        "id": str(diagnosis.id),
        "meta": _meta(US_CORE + "us-core-condition-problems-health-concerns"),
        "category": [concept("problem_list_item")],
        "code": {"coding": coding, "text": diagnosis.description},
        "subject": ref("Patient", diagnosis.patient_id),
        "onsetDateTime": day(diagnosis.noted_on) if diagnosis.noted_on else None,
        "recordedDate": instant(diagnosis.recorded_at),
    }
    if status == "entered_in_error":
        resource["verificationStatus"] = {
            "coding": [{"system": c.CONDITION_VERIFICATION, "code": "entered-in-error"}]
        }
    else:
        resource["clinicalStatus"] = {
            "coding": [{"system": c.CONDITION_CLINICAL, "code": _CLINICAL_STATUS[status]}]
        }
        resource["verificationStatus"] = {
            "coding": [{"system": c.CONDITION_VERIFICATION, "code": "confirmed"}]
        }
    return _strip(resource)


def consent(row: Row) -> Resource:
    """Informed consent to ketamine treatment (or to data sharing), with the text version signed."""
    kind = str(row.kind)
    scope = "consent_research" if kind == "data_sharing" else "consent_treatment"
    return _strip(
        {
            "resourceType": "Consent",
            "id": str(row.id),
            "status": "active" if str(row.status) == "given" else "inactive",
            "scope": concept(scope),
            "category": [concept("consent_document", kind.replace("_", " "))],
            "patient": ref("Patient", row.patient_id),
            "dateTime": instant(row.signed_at),
            "performer": [ref("Patient", row.patient_id)],
            "organization": [ref("Organization", row.clinic_id)],
            "policy": [{"uri": f"{c.CANONICAL_BASE}/consent-text/{kind}/{row.text_version}"}],
            "provision": {"type": "permit" if str(row.status) == "given" else "deny"},
        }
    )


_PLAN_STATUS = {"active": "active", "completed": "completed", "stopped": "revoked"}


def care_plan(plan: Row) -> Resource:
    """The treatment plan: protocol, number of infusions, target dose and infusion time."""
    summary = (
        f"{plan.planned_infusions} infusions, {_number(plan.target_dose_mg_per_kg)} mg/kg over "
        f"{_number(plan.infusion_minutes)} min (protocol {plan.protocol_code})"
    )
    return _strip(
        {
            "resourceType": "CarePlan",
            "id": str(plan.id),
            "meta": _meta(US_CORE + "us-core-careplan"),
            "text": _narrative(summary),
            "status": _PLAN_STATUS[str(plan.status)],
            "intent": "plan",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
                            "code": "assess-plan",
                        }
                    ]
                }
            ],
            "title": f"Ketamine infusion course ({plan.protocol_code})",
            "description": summary + (f". {plan.notes}" if plan.notes else ""),
            "subject": ref("Patient", plan.patient_id),
            "created": instant(plan.created_at),
            "author": ref("Practitioner", plan.created_by_id),
            "activity": [
                {
                    "detail": {
                        "kind": "MedicationRequest",
                        "code": concept("ketamine"),
                        "status": "in-progress" if str(plan.status) == "active" else "completed",
                        "scheduledString": f"{plan.planned_infusions} infusions",
                        "productCodeableConcept": concept("ketamine"),
                        "dailyAmount": quantity(plan.target_dose_mg_per_kg, "mg/kg"),
                    }
                }
            ],
        }
    )


# ---- what the patient brings: allergies and their own medications ----------------------------------

_ALLERGY_STATUS = {"active": "active", "resolved": "resolved", "stopped": "inactive"}
_MEDICATION_STATUS = {"active": "active", "resolved": "completed", "stopped": "stopped"}


def allergy(row: Row) -> Resource:
    """An allergy as registered (the substance as written; no coded substance is kept)."""
    status = str(row.status)
    resource: Resource = {
        "resourceType": "AllergyIntolerance",
        "id": str(row.id),
        "meta": _meta(US_CORE + "us-core-allergyintolerance"),
        "code": {"text": row.substance},
        "patient": ref("Patient", row.patient_id),
        "recordedDate": instant(row.recorded_at),
        "reaction": [{"manifestation": [{"text": row.reaction}]}] if row.reaction else [],
    }
    verification = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
    if status == "entered_in_error":
        resource["verificationStatus"] = {"coding": [{"system": verification, "code": "entered-in-error"}]}
    else:
        clinical = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
        resource["clinicalStatus"] = {"coding": [{"system": clinical, "code": _ALLERGY_STATUS[status]}]}
        resource["verificationStatus"] = {"coding": [{"system": verification, "code": "unconfirmed"}]}
    return _strip(resource)


def medication_statement(row: Row) -> Resource:
    """A medication the patient takes, as they wrote it (with ketaflow's normalised name)."""
    status = str(row.status)
    # As written in text; ketaflow's normalised name as a display-only coding (no code system claimed).
    medication: dict[str, Any] = {"text": row.as_written}
    if row.normalized_name:
        medication["coding"] = [{"display": row.normalized_name}]
    return _strip(
        {
            "resourceType": "MedicationStatement",
            "id": str(row.id),
            "status": "entered-in-error" if status == "entered_in_error" else _MEDICATION_STATUS[status],
            "medicationCodeableConcept": medication,
            "subject": ref("Patient", row.patient_id),
            "dateAsserted": instant(row.recorded_at),
            "informationSource": ref("Patient", row.patient_id),
        }
    )


# ---- medication ----------------------------------------------------------------------------------


def _ketamine() -> dict[str, Any]:
    return concept("ketamine", "ketamine hydrochloride, intravenous infusion")


def medication_request(order: Row, patient_id: uuid.UUID, *, done: bool) -> Resource:
    """The psychiatrist's dose order: mg/kg ordered, mg calculated, duration and pump rate."""
    text = (
        f"{_number(order.dose_mg_per_kg)} mg/kg x {_number(order.dosing_weight_kg)} kg = "
        f"{_number(order.dose_mg)} mg IV over {_number(order.duration_min)} min at "
        f"{_number(order.rate_ml_per_h)} mL/h ({_number(order.bag_drug_mg)} mg in "
        f"{_number(order.bag_volume_ml)} mL)"
    )
    return _strip(
        {
            "resourceType": "MedicationRequest",
            "id": str(order.id),
            "meta": _meta(US_CORE + "us-core-medicationrequest"),
            "status": "completed" if done else "active",
            "intent": "order",
            "reportedBoolean": False,
            "medicationCodeableConcept": _ketamine(),
            "subject": ref("Patient", patient_id),
            "encounter": ref("Encounter", order.session_id),
            "authoredOn": instant(order.ordered_at),
            "requester": ref("Practitioner", order.ordered_by_id),
            "note": [{"text": f"Outside the protocol's limit: {order.override_reason}"}]
            if order.override_reason
            else [],
            "dosageInstruction": [
                {
                    "text": text,
                    "timing": {
                        "repeat": {"count": 1, "duration": _number(order.duration_min), "durationUnit": "min"}
                    },
                    "route": concept("route_iv"),
                    "doseAndRate": [
                        {
                            "type": concept("dose_ordered"),
                            "doseQuantity": quantity(order.dose_mg_per_kg, "mg/kg"),
                        },
                        {
                            "type": concept("dose_calculated"),
                            "doseQuantity": quantity(order.dose_mg, "mg"),
                            "rateQuantity": quantity(order.rate_ml_per_h, "mL/h"),
                        },
                    ],
                }
            ],
        }
    )


def pump_state(events: Sequence[Row]) -> str:
    """The MedicationAdministration status the pump's events give: stopped = completed, paused =
    on-hold, otherwise in progress."""
    last = str(events[-1].kind)
    if any(str(e.kind) == "stop" for e in events):
        return "completed"
    return "on-hold" if last == "pause" else "in-progress"


def medication_administration(
    session: Row, events: Sequence[Row], order: Row | None, patient_id: uuid.UUID
) -> Resource:
    """One infusion as given: milligrams from the pump's cumulative count, the last rate, the period
    from start to stop, the status from the pump's state; each pump event is in its history
    (:func:`pump_event_provenance`)."""
    ordered = sorted(events, key=lambda e: e.occurred_at)
    given_mg = max(float(e.cumulative_mg) for e in ordered)
    rates = [e.rate_ml_per_h for e in ordered if e.rate_ml_per_h is not None]
    stop = next((e for e in ordered if str(e.kind) == "stop"), None)
    administration_id = str(session.id)
    dosage: dict[str, Any] = {
        "text": f"{_number(given_mg)} mg ketamine IV given (pump total)",
        "route": concept("route_iv"),
        "dose": quantity(given_mg, "mg"),
    }
    if rates:
        dosage["rateQuantity"] = quantity(rates[-1], "mL/h")
    return _strip(
        {
            "resourceType": "MedicationAdministration",
            "id": administration_id,
            "status": pump_state(ordered),
            "medicationCodeableConcept": _ketamine(),
            "subject": ref("Patient", patient_id),
            "context": ref("Encounter", session.id),
            "effectivePeriod": {
                "start": instant(ordered[0].occurred_at),
                "end": instant(stop.occurred_at) if stop is not None else None,
            },
            "performer": [{"actor": ref("Practitioner", session.nurse_id)}] if session.nurse_id else [],
            "request": ref("MedicationRequest", order.id) if order is not None else None,
            "dosage": dosage,
            "eventHistory": [ref("Provenance", e.id) for e in ordered],
        }
    )


def pump_event_provenance(event: Row) -> Resource:
    """One pump event (start, rate change, pause, resume, stop, bolus) in an infusion's history."""
    kind = str(event.kind)
    details = []
    if event.rate_ml_per_h is not None:
        details.append(f"rate {_number(event.rate_ml_per_h)} mL/h")
    if event.bolus_mg is not None:
        details.append(f"bolus {_number(event.bolus_mg)} mg")
    details.append(f"{_number(event.cumulative_mg)} mg given so far")
    agent = {"type": concept("performer")}
    if event.recorded_by_id:
        agent["who"] = ref("Practitioner", event.recorded_by_id)
    else:
        agent["who"] = {"display": "infusion pump"}
    return _strip(
        {
            "resourceType": "Provenance",
            "id": str(event.id),
            "target": [ref("MedicationAdministration", event.session_id)],
            "occurredDateTime": instant(event.occurred_at),
            "recorded": instant(event.recorded_at),
            "activity": {
                "coding": [c.PUMP_EVENTS[kind].coding()],
                "text": "; ".join(details),
            },
            "reason": [{"text": event.reason}] if event.reason else [],
            "agent": [agent],
        }
    )


# ---- observations ---------------------------------------------------------------------------------


def _vital(
    record_id: uuid.UUID,
    part: str,
    profiles: Iterable[str],
    code: dict[str, Any],
    patient_id: uuid.UUID,
    effective: datetime,
    session_id: uuid.UUID | None,
    recorded_by: uuid.UUID | None,
    **value: Any,
) -> Resource:
    return _strip(
        {
            "resourceType": "Observation",
            "id": derived_id(record_id, part),
            "meta": _meta(*profiles),
            "status": "final",
            "category": [concept("vital_signs_category")],
            "code": code,
            "subject": ref("Patient", patient_id),
            "encounter": ref("Encounter", session_id) if session_id else None,
            "effectiveDateTime": instant(effective),
            "performer": [ref("Practitioner", recorded_by)] if recorded_by else [],
            **value,
        }
    )


def vital_sign_observations(vital: Row) -> list[Resource]:
    """A set of vital signs as the vital-signs Observations: the blood pressure panel (85354-9,
    systolic 8480-6 and diastolic 8462-4 in mm[Hg]), heart rate, respiratory rate, SpO2 (2708-6
    with US Core's 59408-5)."""
    common = (vital.patient_id, vital.measured_at, vital.session_id, vital.recorded_by_id)
    out = []
    if vital.systolic_mmhg is not None and vital.diastolic_mmhg is not None:
        out.append(
            _vital(
                vital.id,
                "bp",
                (VITALS_PROFILE + "bp", US_CORE + "us-core-blood-pressure"),
                concept("blood_pressure", "Blood pressure"),
                *common,
                component=[
                    {
                        "code": concept("systolic"),
                        "valueQuantity": quantity(vital.systolic_mmhg, "mmHg", "mm[Hg]"),
                    },
                    {
                        "code": concept("diastolic"),
                        "valueQuantity": quantity(vital.diastolic_mmhg, "mmHg", "mm[Hg]"),
                    },
                ],
            )
        )
    if vital.heart_rate_bpm is not None:
        out.append(
            _vital(
                vital.id,
                "hr",
                (VITALS_PROFILE + "heartrate", US_CORE + "us-core-heart-rate"),
                concept("heart_rate"),
                *common,
                valueQuantity=quantity(vital.heart_rate_bpm, "beats/minute", "/min"),
            )
        )
    if vital.respiratory_rate_per_min is not None:
        out.append(
            _vital(
                vital.id,
                "rr",
                (VITALS_PROFILE + "resprate", US_CORE + "us-core-respiratory-rate"),
                concept("respiratory_rate"),
                *common,
                valueQuantity=quantity(vital.respiratory_rate_per_min, "breaths/minute", "/min"),
            )
        )
    if vital.spo2_percent is not None:
        out.append(
            _vital(
                vital.id,
                "spo2",
                (VITALS_PROFILE + "oxygensat", US_CORE + "us-core-pulse-oximetry"),
                {
                    "coding": [c.CODES["oxygen_saturation"].coding(), c.CODES["pulse_oximetry"].coding()],
                    "text": "SpO2 by pulse oximetry",
                },
                *common,
                valueQuantity=quantity(vital.spo2_percent, "%"),
            )
        )
    return out


def body_observations(measurement: Row) -> list[Resource]:
    """A weight (29463-7, kg), and a height (8302-2, cm) when measured."""
    common = (measurement.patient_id, measurement.measured_at, None, measurement.recorded_by_id)
    out = [
        _vital(
            measurement.id,
            "weight",
            (VITALS_PROFILE + "bodyweight", US_CORE + "us-core-body-weight"),
            concept("body_weight"),
            *common,
            valueQuantity=quantity(measurement.weight_kg, "kg"),
        )
    ]
    if measurement.height_cm is not None:
        out.append(
            _vital(
                measurement.id,
                "height",
                (VITALS_PROFILE + "bodyheight", US_CORE + "us-core-body-height"),
                concept("body_height"),
                *common,
                valueQuantity=quantity(measurement.height_cm, "cm"),
            )
        )
    return out


def questionnaire_response(response: Row) -> Resource:
    """A completed rating scale: each item's answer as given (an unanswered item is left out)."""
    instrument = str(response.instrument)
    items = [
        {"linkId": str(number), "answer": [{"valueInteger": int(answer)}]}
        for number, answer in enumerate(response.answers, start=1)
        if answer is not None
    ]
    author = (
        ref("Patient", response.patient_id)
        if str(response.respondent) == "patient"
        else ref("Practitioner", response.recorded_by_id)
        if response.recorded_by_id
        else None
    )
    return _strip(
        {
            "resourceType": "QuestionnaireResponse",
            "id": str(response.id),
            "meta": _meta(US_CORE + "us-core-questionnaireresponse"),
            "questionnaire": c.questionnaire_url(instrument),
            "status": "completed",
            "subject": ref("Patient", response.patient_id),
            "encounter": ref("Encounter", response.session_id) if response.session_id else None,
            "authored": instant(response.answered_at),
            "author": author,
            "item": items,
        }
    )


def score_observations(response: Row) -> list[Resource]:
    """A scale's total as an Observation (PHQ-9 44261-6, GAD-7 70274-6, others ketaflow's codes)
    and its panel (PHQ-9 44249-1, GAD-7 69737-5) with the total as a member; both derived from the
    QuestionnaireResponse. No total (too many items unanswered): no Observation."""
    if response.total is None:
        return []
    instrument = str(response.instrument)
    panel_key, total_key = c.SCALE_CODES[instrument]
    common = {
        "status": "final",
        "category": [concept("survey_category")],
        "subject": ref("Patient", response.patient_id),
        "encounter": ref("Encounter", response.session_id) if response.session_id else None,
        "effectiveDateTime": instant(response.answered_at),
        "issued": instant(response.recorded_at),
        "derivedFrom": [ref("QuestionnaireResponse", response.id)],
    }
    profile = _meta(US_CORE + "us-core-observation-screening-assessment")
    total_id = derived_id(response.id, "total")
    total = {
        "resourceType": "Observation",
        "id": total_id,
        "meta": profile,
        **common,
        "code": concept(total_key),
        "valueQuantity": {
            "value": int(response.total),
            "unit": "{score}",
            "system": c.UCUM,
            "code": "{score}",
        },
    }
    panel = {
        "resourceType": "Observation",
        "id": derived_id(response.id, "panel"),
        "meta": profile,
        **common,
        "code": concept(panel_key),
        "hasMember": [ref("Observation", total_id)],
    }
    return [_strip(total), _strip(panel)]


# ---- adverse events, audit --------------------------------------------------------------------------

_SEVERITY = {"mild": "mild", "moderate": "moderate", "severe": "severe"}


def adverse_event(effect: Row, patient_id: uuid.UUID) -> Resource:
    """A side effect flagged as an adverse event, with ketamine as the suspect (the infusion)."""
    kind = str(effect.kind).replace("_", " ")
    return _strip(
        {
            "resourceType": "AdverseEvent",
            "id": str(effect.id),
            "actuality": "actual",
            "event": {"text": kind + (f": {effect.notes}" if effect.notes else "")},
            "subject": ref("Patient", patient_id),
            "encounter": ref("Encounter", effect.session_id),
            "date": instant(effect.onset_at),
            "recordedDate": instant(effect.recorded_at),
            "recorder": ref("Practitioner", effect.recorded_by_id) if effect.recorded_by_id else None,
            "severity": {
                "coding": [{"system": c.ADVERSE_EVENT_SEVERITY, "code": _SEVERITY[str(effect.severity)]}]
            },
            "outcome": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/adverse-event-outcome",
                        "code": "resolved" if effect.resolved_at else "ongoing",
                    }
                ]
            },
            "suspectEntity": [{"instance": ref("MedicationAdministration", effect.session_id)}],
        }
    )


def audit_event(row: Row) -> Resource:
    """An audit-trail row as a FHIR AuditEvent (the mapping in ketaflow.audit_codes' docstring)."""
    type_system, type_display = audit_codes.CODINGS.get(
        row.event_type, (audit_codes.EVENT_TYPE_SYSTEM, row.event_type)
    )
    subtype = []
    if row.event_subtype:
        system, display = audit_codes.CODINGS.get(
            row.event_subtype, (audit_codes.RESTFUL_SYSTEM, row.event_subtype)
        )
        subtype.append({"system": system, "code": row.event_subtype, "display": display})
    requestor: dict[str, Any] = {
        "requestor": True,
        "who": ref("Practitioner", row.actor_user_id, row.actor_label)
        if row.actor_user_id
        else {"display": row.actor_label},
    }
    if row.agent_role:
        requestor["role"] = [{"text": row.agent_role}]
    if row.ip_address:
        requestor["network"] = {"address": row.ip_address, "type": "2"}
    if row.purpose_of_use:
        requestor["purposeOfUse"] = [
            {"coding": [{"system": audit_codes.PURPOSE_SYSTEM, "code": row.purpose_of_use}]}
        ]
    agents = [requestor]
    if row.user_agent:
        agents.append(
            {
                "type": {
                    "coding": [
                        {"system": audit_codes.DICOM_SYSTEM, "code": "110153", "display": "Source Role ID"}
                    ]
                },
                "requestor": False,
                "who": {"display": row.user_agent},
            }
        )
    entities: list[dict[str, Any]] = []
    object_type = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
    object_role = "http://terminology.hl7.org/CodeSystem/object-role"
    if row.entity_id or row.entity_type:
        entities.append(
            {
                "what": {"identifier": {"value": str(row.entity_id)}} if row.entity_id else None,
                "type": {"system": object_type, "code": "2", "display": "System Object"},
                "role": {"system": object_role, "code": "4", "display": "Domain Resource"},
                "name": row.entity_type,
                "detail": [{"type": "action", "valueString": row.action}],
            }
        )
    if row.patient_id:
        entities.append(
            {
                "what": ref("Patient", row.patient_id),
                "type": {"system": object_type, "code": "1", "display": "Person"},
                "role": {"system": object_role, "code": "1", "display": "Patient"},
            }
        )
    source_type_system, source_type_code, source_type_display = audit_codes.SOURCE_TYPE
    return _strip(
        {
            "resourceType": "AuditEvent",
            "id": str(row.id),
            "type": {"system": type_system, "code": row.event_type, "display": type_display},
            "subtype": subtype,
            "action": audit_codes.FHIR_ACTION.get(row.event_subtype or "", "E"),
            "recorded": instant(row.occurred_at),
            "outcome": audit_codes.FHIR_OUTCOME.get(row.outcome, "0"),
            "outcomeDesc": row.outcome if row.outcome != audit_codes.SUCCESS else None,
            "agent": agents,
            "source": {
                "site": str(row.clinic_id) if row.clinic_id else None,
                "observer": {"display": row.source_observer or "ketaflow"},
                "type": [
                    {"system": source_type_system, "code": source_type_code, "display": source_type_display}
                ],
            },
            "entity": entities,
        }
    )


# ---- bundles ------------------------------------------------------------------------------------


def collection_bundle(resources: Sequence[Resource], timestamp: datetime, base_url: str) -> Resource:
    """A collection Bundle of the resources (the patient's own record). Each entry's fullUrl is
    `<base_url>/<Type>/<id>` (base_url: the server's FHIR base), so the relative references
    inside resolve within the Bundle."""
    base = base_url.rstrip("/")
    entries = [
        {"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", "resource": resource}
        for resource in resources
    ]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": instant(timestamp),
        "entry": entries,
    }


def references(resource: Resource) -> set[str]:
    """Every literal reference ("Type/id") inside a resource (contained "#x" ones excluded)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            target = value.get("reference")
            if isinstance(target, str) and not target.startswith("#"):
                found.add(target)
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(resource)
    return found


def searchset_bundle(
    resources: Sequence[Resource],
    total: int,
    links: dict[str, str],
    timestamp: datetime,
    base_url: str,
    included: Sequence[Resource] = (),
) -> Resource:
    """A search's page of results: `total` matches in all, `links` self/next/previous; `included`
    (what `_include` asked for) after them with search.mode = include."""
    base = base_url.rstrip("/")
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "timestamp": instant(timestamp),
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links.items()],
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": mode},
            }
            for mode, rows in (("match", resources), ("include", included))
            for r in rows
        ],
    }
