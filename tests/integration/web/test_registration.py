"""Registering patients at the front desk: the form, duplicate detection, bad input, search."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from tests.integration.web.frontdesk_support import Desk, clinic, count, make_patient, open_desk

NOW = datetime(2031, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def desk(demo_engine: Engine) -> Iterator[Desk]:
    yield from open_desk(demo_engine, NOW, roles=("front_desk", "nurse", "admin"))


def person(**changes: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    body: dict[str, Any] = {
        "given_name": f"Regina{tag}",
        "family_name": f"Registerova{tag}",
        "date_of_birth": "1984-02-29",
        "sex": "female",
        "phone": "555-0142",
        "email": f"regina.{tag}@example.com",
        "address": "12 Elm St, Austin TX",
        "emergency_contact_name": "Dana Reyes",
        "emergency_contact_phone": "555-0100",
        "emergency_contact_relationship": "sister",
        "weight_kg": 71.5,
        "height_cm": 168,
        "medications": ["Klonopin 1 mg at night", "sertraline 100mg"],
        "allergies": ["penicillin - rash"],
    }
    body.update(changes)
    return body


def form_of(body: dict[str, Any], csrf: str) -> dict[str, str]:
    data = {
        k: ("\n".join(v) if isinstance(v, list) else "" if v is None else str(v)) for k, v in body.items()
    }
    data["csrf"] = csrf
    return data


def rows(engine: Engine) -> tuple[int, ...]:
    return tuple(count(engine, model) for model in (m.Patient, m.BodyMeasurement, m.Medication, m.Allergy))


def test_the_form_registers_a_patient_with_weight_medications_and_allergies(desk: Desk) -> None:
    client, headers = desk.as_("front_desk")
    page = client.get("/clinics/aus/patients/new")
    assert page.status_code == 200 and "Register a patient" in page.text and "Date of birth" in page.text
    body = person()
    r = client.post(
        "/clinics/aus/patients/new", data=form_of(body, headers["X-CSRF-Token"]), follow_redirects=False
    )
    assert r.status_code == 303, r.text
    patient_id = uuid.UUID(r.headers["location"].rsplit("/", 1)[1])
    with Session(desk.engine) as db:
        p = db.get(m.Patient, patient_id)
        assert p is not None and p.given_name == body["given_name"] and p.date_of_birth == date(1984, 2, 29)
        assert re.fullmatch(r"KF\d{7}", p.mrn), p.mrn
        clinic_mrns = db.scalars(
            select(m.Patient.mrn).where(m.Patient.clinic_id == p.clinic_id, m.Patient.mrn.like("KF%"))
        ).all()
        assert p.mrn == max(clinic_mrns) and len({x[:4] for x in clinic_mrns}) == 1  # same clinic number
        weight = db.scalars(select(m.BodyMeasurement).where(m.BodyMeasurement.patient_id == p.id)).one()
        assert (weight.weight_kg, weight.height_cm) == (71.5, 168.0)
        meds = db.scalars(select(m.Medication.as_written).where(m.Medication.patient_id == p.id)).all()
        assert sorted(meds) == ["Klonopin 1 mg at night", "sertraline 100mg"]
        allergy = db.scalars(select(m.Allergy).where(m.Allergy.patient_id == p.id)).one()
        assert (allergy.substance, allergy.reaction) == ("penicillin", "rash")
        audit = db.scalars(
            select(m.AuditEvent).where(
                m.AuditEvent.patient_id == p.id, m.AuditEvent.action == "patient.register"
            )
        ).one()
        assert audit.details["mrn"] == p.mrn


def test_the_api_registers_and_mrns_follow_each_other(desk: Desk) -> None:
    client, headers = desk.as_("front_desk")
    first = client.post("/api/clinics/aus/patients", json=person(), headers=headers)
    second = client.post(
        "/api/clinics/aus/patients", json=person(weight_kg=None, height_cm=None), headers=headers
    )
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    a, b = first.json()["mrn"], second.json()["mrn"]
    assert a[:4] == b[:4] and int(b[4:]) == int(a[4:]) + 1


@pytest.mark.parametrize(
    ("existing", "typed", "why"),
    [
        (("Élodie", "Martín"), ("elodie", "  MARTIN "), "same name"),
        (("Mary Ann", "O'Neil"), ("Maryann", "ONeil"), "same name"),
        (("Jordan", "Kowalski"), ("Kowalski", "Jordan"), "given and family names swapped"),
        (("Katherine", "Lindqvist"), ("Kate", "Lindqvist"), "same family name and a similar given name"),
    ],
)
def test_duplicates_are_found_and_need_a_confirmation(
    desk: Desk, existing: tuple[str, str], typed: tuple[str, str], why: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    dob = date(1950 + int(tag, 16) % 40, 1 + int(tag, 16) % 12, 1 + int(tag, 16) % 28)
    # A unique family name suffix keeps the other runs' patients out of this date's matches.
    suffix = "".join(chr(ord("a") + int(ch, 16) % 26) for ch in tag)
    old_id = make_patient(desk.engine, given=existing[0], family=existing[1] + suffix, dob=dob)
    typed_family = typed[1].rstrip() + suffix if typed[1].strip() != "Jordan" else typed[1]
    typed_given = typed[0] if typed[0] != "Kowalski" else "Kowalski" + suffix
    body = person(given_name=typed_given, family_name=typed_family, date_of_birth=dob.isoformat())
    client, headers = desk.as_("front_desk")
    before = rows(desk.engine)

    api = client.post("/api/clinics/aus/patients", json=body, headers=headers)
    assert api.status_code == 409, api.text
    assert [c["patient_id"] for c in api.json()["candidates"]] == [str(old_id)]
    assert api.json()["candidates"][0]["why"] == why
    page = client.post("/clinics/aus/patients/new", data=form_of(body, headers["X-CSRF-Token"]))
    assert page.status_code == 400 and f"/patients/{old_id}" in page.text
    assert "This is a different person" in page.text and why in page.text
    assert rows(desk.engine) == before  # nothing saved

    confirmed = client.post(
        "/clinics/aus/patients/new",
        data={**form_of(body, headers["X-CSRF-Token"]), "confirm_not_duplicate": "yes"},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    assert rows(desk.engine)[0] == before[0] + 1


@pytest.mark.parametrize(
    ("given", "family", "dob_shift"),
    [
        ("Jon", "Smithfield", 0),  # different family name (Smith...)
        ("Bob", "Hartley", 0),  # same family name, different given name
        ("Robert", "Hartley", 1),  # same name, a different date of birth
    ],
)
def test_near_misses_are_not_duplicates(desk: Desk, given: str, family: str, dob_shift: int) -> None:
    tag = uuid.uuid4().hex[:6]
    suffix = "".join(chr(ord("a") + int(ch, 16) % 26) for ch in tag)
    dob = date(1961, 6, 1 + int(tag, 16) % 20)
    make_patient(desk.engine, given="Robert", family="Hartley" + suffix, dob=dob)
    make_patient(desk.engine, given="Jon", family="Smith" + suffix, dob=dob)
    client, headers = desk.as_("front_desk")
    body = person(
        given_name=given,
        family_name=family + suffix,
        date_of_birth=date(1961, 6, 1 + int(tag, 16) % 20 + dob_shift).isoformat(),
    )
    r = client.post("/api/clinics/aus/patients", json=body, headers=headers)
    assert r.status_code == 201, r.text


BAD = [
    ({"given_name": "  "}, "given_name", "Enter the patient's given name."),
    ({"family_name": ""}, "family_name", "Enter the patient's family name."),
    ({"date_of_birth": ""}, "date_of_birth", "Enter the date of birth"),
    ({"date_of_birth": "17/05/1980"}, "date_of_birth", "YYYY-MM-DD"),
    ({"date_of_birth": "2031-03-04"}, "date_of_birth", "in the future"),
    ({"date_of_birth": "1890-01-01"}, "date_of_birth", "more than 120 years ago"),
    ({"sex": "x"}, "sex", "Choose the patient's sex"),
    ({"weight_kg": 0}, "weight_kg", "Weight must be between 30 and 300 kg; got 0."),
    ({"weight_kg": 900}, "weight_kg", "Weight must be between 30 and 300 kg; got 900."),
    ({"height_cm": 20}, "height_cm", "Height must be between 120 and 230 cm; got 20."),
    ({"weight_kg": None, "height_cm": 170}, "weight_kg", "Enter the weight with the height"),
    ({"phone": "12"}, "phone", "phone number must have 7 to 15 digits"),
    ({"email": "regina-at-example"}, "email", "is not valid"),
    (
        {"emergency_contact_name": "", "emergency_contact_phone": "555-0100"},
        "emergency_contact_name",
        "Name the emergency contact",
    ),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD)
def test_bad_input_is_refused_beside_the_field_and_nothing_is_saved(
    desk: Desk, change: dict[str, Any], field: str, message: str
) -> None:
    client, headers = desk.as_("front_desk")
    body = person(**change)
    before = rows(desk.engine)
    api = client.post("/api/clinics/aus/patients", json=body, headers=headers)
    assert api.status_code == 400, api.text
    assert message in api.json()["error"] and api.json()["field"] == field
    page = client.post("/clinics/aus/patients/new", data=form_of(body, headers["X-CSRF-Token"]))
    assert page.status_code == 400 and message.replace("'", "&#39;") in page.text
    assert (
        f'id="register-{field}-error"' in page.text
        and f'aria-describedby="register-{field}-error"' in page.text
    )
    assert body["family_name"] in page.text or not body["family_name"]  # what was typed is kept
    assert rows(desk.engine) == before


def test_a_weight_that_is_not_a_number_comes_back_on_the_form(desk: Desk) -> None:
    client, headers = desk.as_("front_desk")
    before = rows(desk.engine)
    page = client.post(
        "/clinics/aus/patients/new", data=form_of(person(weight_kg="seventy"), headers["X-CSRF-Token"])
    )
    assert page.status_code == 400 and "Weight (kg) must be a number" in page.text
    assert rows(desk.engine) == before


def test_search_finds_by_name_mrn_and_date_of_birth(desk: Desk) -> None:
    client, headers = desk.as_("front_desk")
    tag = uuid.uuid4().hex[:6]
    body = person(given_name="Zelda", family_name=f"Quarrington{tag}", date_of_birth="1966-07-08")
    made = client.post("/api/clinics/aus/patients", json=body, headers=headers).json()
    nurse, _ = desk.as_("nurse")

    def ids(q: str) -> list[str]:
        r = nurse.get("/api/clinics/aus/patients", params={"q": q})
        assert r.status_code == 200, r.text
        return [p["patient_id"] for p in r.json()["patients"]]

    assert made["id"] in ids(f"quarrington{tag}")
    assert made["id"] in ids(f"Zelda Quarrington{tag}")
    assert made["id"] in ids(f"Quarrington{tag}, Zel")
    assert made["id"] in ids(made["mrn"])
    assert made["id"] in ids(made["mrn"].lower())
    assert made["id"] in ids("1966-07-08")
    assert made["id"] not in ids("1966-07-09")
    assert nurse.get("/api/clinics/aus/patients", params={"q": "1966-13-40"}).status_code == 400
    page = nurse.get("/clinics/aus/patients", params={"q": f"Quarrington{tag}"})
    assert page.status_code == 200 and f"Quarrington{tag}, Zelda" in page.text and made["mrn"] in page.text
    assert nurse.get("/clinics/aus/patients", params={"q": "1966-13-40"}).status_code == 400
    # Paging: the whole clinic, 25 a page, no repeats between pages. The page needs more than 25
    # patients at the clinic whichever of this file's tests ran before (the demo network has fewer).
    with Session(desk.engine) as db:
        at_clinic = count(desk.engine, m.Patient, clinic_id=clinic(db).id)
    for _ in range(26 - at_clinic):
        make_patient(desk.engine)
    one = nurse.get("/api/clinics/aus/patients", params={"page_no": 1}).json()
    two = nurse.get("/api/clinics/aus/patients", params={"page_no": 2}).json()
    assert len(one["patients"]) == 25 and one["has_next"]
    assert not {p["patient_id"] for p in one["patients"]} & {p["patient_id"] for p in two["patients"]}
    with Session(desk.engine) as db:
        assert (
            db.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "patient.search")).first()
            is not None
        )


def test_the_pages_are_linked_from_the_clinic_nav(desk: Desk) -> None:
    client, _ = desk.as_("front_desk")
    board = client.get("/clinics/aus/board")
    assert '/clinics/aus/patients/new"' in board.text and '/clinics/aus/patients"' in board.text
    search = client.get("/clinics/aus/patients")
    assert search.status_code == 200 and "Find a patient" in search.text


def test_two_desks_registering_the_same_person_at_once_make_one_patient(demo_engine: Engine) -> None:
    """Both desks check for duplicates and take an MRN; the organization lock makes them queue."""
    import threading

    from ketaflow.services import registration
    from ketaflow.services.auth import CurrentUser

    with Session(demo_engine) as db:
        user = db.scalar(select(m.StaffUser).where(m.StaffUser.email == "frontdesk1.aus@demo.ketaflow.org"))
        assert user is not None
        roles: dict[str, set[Any]] = {}
        for r in db.scalars(select(m.StaffRole).where(m.StaffRole.user_id == user.id)):
            roles.setdefault(str(r.clinic_id), set()).add(r.role)
        db.expunge_all()
    who = CurrentUser(user, None, roles)
    tag = uuid.uuid4().hex[:6]
    new = registration.NewPatient(
        given_name="Twin", family_name=f"Concurrent{tag}", date_of_birth="1977-07-07", sex="male"
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        with Session(demo_engine, expire_on_commit=False) as db:
            barrier.wait()
            try:
                outcomes.append(registration.register(db, who, "aus", new, now=NOW).mrn)
            except registration.PossibleDuplicates:
                outcomes.append("duplicate")

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes)[1] == "duplicate" and sorted(outcomes)[0].startswith("KF"), outcomes
    assert count(demo_engine, m.Patient, family_name=f"Concurrent{tag}") == 1
