"""The front desk uploads a referral (issue 15, item 6: "uploaded by the front desk"): the page
takes a referring practice's FHIR Bundle as a file and runs the same import as `POST /fhir`. A
patient exported from one clinic's chart comes back as a registered patient with the same
medications and allergies; a possible duplicate asks first; a file that is not JSON or a Bundle
with mistakes names each problem and saves nothing; only those who may register patients may
upload."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.services.fhir_record import patient_resources
from ketaflow.store import models as m
from ketaflow.store.facts import current
from tests.integration.fhir.test_referral import transaction
from tests.integration.web.frontdesk_support import Desk, count, open_desk

NOW = datetime(2031, 3, 3, 15, 0, tzinfo=UTC)
PAGE = "/clinics/aus/referrals/new"


@pytest.fixture(scope="module")
def desk(demo_engine: Engine) -> Iterator[Desk]:
    yield from open_desk(demo_engine, NOW, roles=("front_desk", "nurse"))


@pytest.fixture(scope="module")
def referral(demo_engine: Engine) -> dict[str, Any]:
    """A Denver demo patient with medications and allergies, exported as the referring system sends it."""
    with Session(demo_engine) as db:
        den = db.scalar(select(m.Clinic.id).where(m.Clinic.code == "den"))
        patient_id = db.scalars(
            select(m.Medication.patient_id)
            .join(m.Patient, m.Patient.id == m.Medication.patient_id)
            .where(m.Patient.clinic_id == den)
            .order_by(m.Patient.mrn)
        ).first()
        assert patient_id is not None
        # What a referral carries (issue 15, item 6): the patient, diagnoses, medications,
        # allergies, weight and PHQ-9 totals; not the infusions' vital signs.
        return transaction([r for r in patient_resources(db, patient_id) if _in_a_referral(r)])


REFERRAL_CODES = {"44261-6", "29463-7", "8302-2"}  # LOINC: PHQ-9 total, body weight, body height


def _in_a_referral(resource: dict[str, Any]) -> bool:
    kind = resource["resourceType"]
    if kind == "Observation":
        return bool({c.get("code") for c in resource["code"].get("coding", [])} & REFERRAL_CODES)
    return kind in {"Patient", "Condition", "MedicationStatement", "AllergyIntolerance"}


def renamed(bundle: dict[str, Any], given: str) -> dict[str, Any]:
    """The same referral for someone else (another given name: no duplicate)."""
    other = copy.deepcopy(bundle)
    for entry in other["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["name"] = [{**entry["resource"]["name"][0], "given": [given]}]
    return other


def upload(
    desk: Desk, role: str, content: bytes, *, name: str = "referral.json", confirm: bool = False
) -> Any:
    client, headers = desk.as_(role)
    data = {"csrf": headers["X-CSRF-Token"]}
    if confirm:
        data["confirm_not_duplicate"] = "yes"
    return client.post(PAGE, data=data, files={"bundle": (name, content, "application/fhir+json")})


def patients_named(engine: Engine, given: str) -> list[m.Patient]:
    with Session(engine) as db:
        return list(db.scalars(select(m.Patient).where(m.Patient.given_name == given)))


def test_the_page_offers_the_upload_to_the_front_desk_only(desk: Desk) -> None:
    client, _ = desk.as_("front_desk")
    page = client.get(PAGE)
    assert page.status_code == 200 and 'type="file"' in page.text and "Import a referral" in page.text
    assert PAGE in client.get("/clinics/aus/patients/new").text  # offered from the registration form
    nurse, _ = desk.as_("nurse")
    assert nurse.get(PAGE).status_code == 403
    before = count(desk.engine, m.Patient)
    refused = upload(desk, "nurse", b"{}")
    assert refused.status_code == 403 and count(desk.engine, m.Patient) == before


def test_an_uploaded_referral_registers_the_patient_with_the_chart(
    desk: Desk, referral: dict[str, Any]
) -> None:
    given = f"Ref{uuid.uuid4().hex[:6]}"
    r = upload(desk, "front_desk", json.dumps(renamed(referral, given)).encode())
    assert r.status_code == 201, r.text
    assert "Registered:" in r.text and "Screening of the referral" in r.text
    [patient] = patients_named(desk.engine, given)
    assert f"/patients/{patient.id}" in r.text and patient.mrn in r.text
    source = next(e["resource"] for e in referral["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient.date_of_birth.isoformat() == source["birthDate"]
    with Session(desk.engine) as db:
        clinic = db.get(m.Clinic, patient.clinic_id)
        assert clinic is not None and clinic.code == "aus"
        meds = list(db.scalars(current(m.Medication).where(m.Medication.patient_id == patient.id)))
        # home medications come as MedicationStatements (the MedicationRequests are ketamine orders)
        sent = [e for e in referral["entry"] if e["resource"]["resourceType"] == "MedicationStatement"]
        assert len(meds) == len(sent) > 0
        audit = db.scalars(select(m.AuditEvent.action).where(m.AuditEvent.patient_id == patient.id)).all()
        assert "patient.referral_import" in audit


def test_a_possible_duplicate_asks_first_then_registers_when_confirmed(
    desk: Desk, referral: dict[str, Any]
) -> None:
    given = f"Dup{uuid.uuid4().hex[:6]}"
    content = json.dumps(renamed(referral, given)).encode()
    assert upload(desk, "front_desk", content).status_code == 201
    again = upload(desk, "front_desk", content)
    assert again.status_code == 409 and "Possibly already registered" in again.text
    assert 'name="confirm_not_duplicate"' in again.text
    assert len(patients_named(desk.engine, given)) == 1  # nothing saved by the refused upload
    confirmed = upload(desk, "front_desk", content, confirm=True)
    assert confirmed.status_code == 201, confirmed.text
    assert len(patients_named(desk.engine, given)) == 2


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"%PDF-1.7 scanned letter", "is not a FHIR JSON file"),
        (b"\xff\xfe\x00garbage", "is not a FHIR JSON file"),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\x00\x01\x02 stream",
            "is not a FHIR JSON file",
        ),  # a real PDF's bytes
        (json.dumps({"resourceType": "Patient"}).encode(), "Bundle"),
        (
            b'{"resourceType": "Bundle", "type": "transaction", '
            b'"entry": [{"resource": {"name": "a\\u0000b"}}]}',
            "NUL",
        ),
    ],
)
def test_a_file_that_is_not_a_referral_is_refused_saying_what_to_ask_for(
    desk: Desk, content: bytes, says: str
) -> None:
    before = count(desk.engine, m.Patient)
    r = upload(desk, "front_desk", content, name="letter.pdf")
    assert r.status_code == 400 and says in r.text, r.text
    assert "Traceback" not in r.text and count(desk.engine, m.Patient) == before


def test_a_bundle_with_mistakes_names_each_and_saves_nothing(desk: Desk, referral: dict[str, Any]) -> None:
    given = f"Bad{uuid.uuid4().hex[:6]}"
    bad = renamed(referral, given)
    patient = next(e["resource"] for e in bad["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["birthDate"] = "31/02/1980"
    patient["gender"] = "robot"
    before = count(desk.engine, m.Patient)
    r = upload(desk, "front_desk", json.dumps(bad).encode())
    assert r.status_code == 400, r.text
    assert "nothing was saved" in r.text and 'id="referral-problems"' in r.text
    assert "31/02/1980" in r.text or "birth" in r.text.lower()
    assert count(desk.engine, m.Patient) == before and patients_named(desk.engine, given) == []


def test_no_file_chosen_is_a_message_not_an_error(desk: Desk) -> None:
    client, headers = desk.as_("front_desk")
    r = client.post(PAGE, data={"csrf": headers["X-CSRF-Token"]})
    assert r.status_code == 400 and "Choose the referral file" in r.text
