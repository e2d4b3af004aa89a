"""The FHIR REST API on the demo test network: public metadata, 401 elsewhere without a session,
today's roles and clinics, search parameters and paging, OperationOutcome errors, audited reads."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.store.facts import current
from ketaflow.vocabulary import Instrument
from tests.integration.web.roles import AUS_STAFF, CLINICAL_READERS, ROLES, Caller, callers, expected

NOW = datetime(2027, 3, 4, 17, 0, tzinfo=UTC)  # a day no other test uses
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


@pytest.fixture(scope="module")
def aus_patient(demo_engine: Engine) -> uuid.UUID:
    """An Austin patient with at least three PHQ-9 totals charted."""
    with Session(demo_engine) as db:
        clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert clinic is not None
        q = m.QuestionnaireResponse
        row = db.execute(
            select(q.patient_id, func.count())
            .join(m.Patient, m.Patient.id == q.patient_id)
            .where(m.Patient.clinic_id == clinic.id, q.instrument == Instrument.PHQ9, q.total.is_not(None))
            .group_by(q.patient_id)
            .having(func.count() >= 3)
            .order_by(q.patient_id)
        ).first()
        assert row is not None
        return uuid.UUID(str(row[0]))


def _outcome(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    diagnostics: str = body["issue"][0]["diagnostics"]
    assert diagnostics
    return diagnostics


def test_metadata_is_public_and_says_4_0_1(who: dict[str, Caller]) -> None:
    r = who["anonymous"].client.get("/fhir/metadata")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(FHIR_JSON)
    body = r.json()
    assert body["resourceType"] == "CapabilityStatement" and body["fhirVersion"] == "4.0.1"
    assert {"Patient", "Observation", "MedicationAdministration"} <= {
        x["type"] for x in body["rest"][0]["resource"]
    }


def test_everything_else_needs_a_session(who: dict[str, Caller], aus_patient: uuid.UUID) -> None:
    for path in (
        f"/fhir/Patient/{aus_patient}",
        f"/fhir/Patient/{aus_patient}/$everything",
        "/fhir/Patient",
        f"/fhir/Observation?patient={aus_patient}",
        "/fhir/Basic/1",
        "/fhir/nothing",
    ):
        r = who["anonymous"].client.get(path)
        _outcome(r, 401)
        assert "Bearer" in r.headers["www-authenticate"]


@pytest.mark.parametrize("label", list(ROLES))
def test_roles_and_clinics(who: dict[str, Caller], aus_patient: uuid.UUID, label: str) -> None:
    client = who[label].client
    r = client.get(f"/fhir/Patient/{aus_patient}")
    assert r.status_code == expected(label, AUS_STAFF), r.text
    r = client.get(f"/fhir/Observation?patient={aus_patient}")
    assert r.status_code == expected(label, CLINICAL_READERS), r.text
    if r.status_code == 403:
        _outcome(r, 403)
    r = client.get(f"/fhir/Patient/{aus_patient}/$everything")
    assert r.status_code == expected(label, CLINICAL_READERS), r.text
    # A Patient search covers only the clinics where the user may open charts.
    r = client.get("/fhir/Patient?_count=500")
    if label == "anonymous":
        assert r.status_code == 401
    else:
        ids = {e["resource"]["id"] for e in r.json().get("entry", [])}
        assert (str(aus_patient) in ids) == (label in AUS_STAFF)


def test_search_by_code_and_date_with_paging(
    who: dict[str, Caller], aus_patient: uuid.UUID, demo_engine: Engine
) -> None:
    client = who["nurse"].client
    with Session(demo_engine) as db:
        q = m.QuestionnaireResponse
        charted = sorted(
            (row.answered_at, row.total)
            for row in db.scalars(
                current(q).where(
                    q.patient_id == aus_patient, q.instrument == Instrument.PHQ9, q.total.is_not(None)
                )
            )
        )
    code = "http://loinc.org|44261-6"
    r = client.get("/fhir/Observation", params={"patient": aus_patient, "code": code, "_count": 2})
    assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR_JSON)
    first = r.json()
    assert first["type"] == "searchset" and first["total"] == len(charted)
    seen = [e["resource"] for e in first["entry"]]
    links = {link["relation"]: link["url"] for link in first["link"]}
    while "next" in links:
        page = client.get(links["next"]).json()
        seen += [e["resource"] for e in page["entry"]]
        links = {link["relation"]: link["url"] for link in page["link"]}
    assert len(seen) == len(charted)
    assert all(o["code"]["coding"][0]["code"] == "44261-6" for o in seen)
    assert sorted(o["valueQuantity"]["value"] for o in seen) == sorted(t for _, t in charted)
    # date: the totals on or after the middle answer, and those before it, make the whole.
    middle = charted[len(charted) // 2][0].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = client.get(
        "/fhir/Observation", params={"patient": aus_patient, "code": code, "date": f"ge{middle}"}
    )
    earlier = client.get(
        "/fhir/Observation", params={"patient": aus_patient, "code": code, "date": f"lt{middle}"}
    )
    assert later.json()["total"] == len(charted) - len(charted) // 2
    assert earlier.json()["total"] == len(charted) // 2
    # A read of one of them gives the same resource.
    one = seen[0]
    r = client.get(f"/fhir/Observation/{one['id']}")
    assert r.status_code == 200 and r.json() == one


def test_errors_are_operation_outcomes(who: dict[str, Caller], aus_patient: uuid.UUID) -> None:
    client = who["nurse"].client
    assert "date" in _outcome(client.get(f"/fhir/Observation?patient={aus_patient}&date=last-tuesday"), 400)
    assert "colour" in _outcome(client.get(f"/fhir/Observation?patient={aus_patient}&colour=red"), 400)
    assert "patient" in _outcome(client.get("/fhir/Observation"), 400)
    assert "_count" in _outcome(client.get(f"/fhir/Observation?patient={aus_patient}&_count=-1"), 400)
    assert "Basic" in _outcome(client.get("/fhir/Basic/1"), 404)
    _outcome(client.get(f"/fhir/Observation/{uuid.uuid4()}-bp"), 404)
    _outcome(client.get("/fhir/Observation/not-an-id"), 404)
    _outcome(client.get(f"/fhir/Patient/{uuid.uuid4()}"), 404)


def test_reads_are_audited(who: dict[str, Caller], aus_patient: uuid.UUID, demo_engine: Engine) -> None:
    def count(action: str) -> int:
        with Session(demo_engine) as db:
            return int(
                db.scalar(
                    select(func.count())
                    .select_from(m.AuditEvent)
                    .where(m.AuditEvent.action == action, m.AuditEvent.patient_id == aus_patient)
                )
                or 0
            )

    before = count("fhir.read"), count("fhir.search")
    assert who["psychiatrist"].client.get(f"/fhir/Patient/{aus_patient}").status_code == 200
    assert who["psychiatrist"].client.get(f"/fhir/Condition?patient={aus_patient}").status_code == 200
    assert (count("fhir.read"), count("fhir.search")) == (before[0] + 1, before[1] + 1)


def test_a_referral_post_answers_with_operation_outcomes(
    who: dict[str, Caller], aus_patient: uuid.UUID, demo_engine: Engine
) -> None:
    """POST /fhir: the front desk's import. A bad Bundle: one issue per problem and nothing saved;
    the record of a patient already registered: 409 naming them; a nurse: 403."""
    everything = who["nurse"].client.get(f"/fhir/Patient/{aus_patient}/$everything").json()
    # What a referral carries (a whole record with every vital sign is more than one request takes).
    carried = {"Patient", "Condition", "MedicationStatement", "AllergyIntolerance", "QuestionnaireResponse"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {**e, "request": {"method": "POST", "url": e["resource"]["resourceType"]}}
            for e in everything["entry"]
            if e["resource"]["resourceType"] in carried
        ],
    }
    desk = who["front_desk"].client
    with Session(demo_engine) as db:
        before = db.scalar(select(func.count()).select_from(m.Patient))
    r = desk.post("/fhir?clinic=aus", json=bundle)
    assert r.status_code == 409, r.text
    assert "confirm_not_duplicate=true" in _outcome(r, 409)
    broken = {**bundle, "entry": [dict(e) for e in bundle["entry"]]}
    patient_at = next(i for i, e in enumerate(broken["entry"]) if e["resource"]["resourceType"] == "Patient")
    broken["entry"][patient_at] = {
        **broken["entry"][patient_at],
        "resource": {
            k: v for k, v in broken["entry"][patient_at]["resource"].items() if k not in ("birthDate", "name")
        },
    }
    r = desk.post("/fhir?clinic=aus", json=broken)
    issues = r.json()["issue"]
    assert r.status_code == 400 and {i["expression"][0] for i in issues} == {
        f"entry[{patient_at}].resource.birthDate",
        f"entry[{patient_at}].resource.name",
    }
    assert _outcome(desk.post("/fhir", json=bundle), 400)
    assert "larger than" in _outcome(desk.post("/fhir?clinic=aus", content=b" " * (2 * 1024 * 1024)), 413)
    assert who["nurse"].client.post("/fhir?clinic=aus", json=bundle).status_code == 403
    with Session(demo_engine) as db:
        assert db.scalar(select(func.count()).select_from(m.Patient)) == before


def test_include_marks_the_included_and_resolves_them(
    who: dict[str, Caller], aus_patient: uuid.UUID, demo_engine: Engine
) -> None:
    """`_include` on the obvious pairs: each included resource once, search.mode include, and the
    one a reference names (checked against the database: the dose order of each infusion)."""
    client = who["nurse"].client
    r = client.get(
        "/fhir/MedicationAdministration",
        params=[
            ("patient", str(aus_patient)),
            ("_include", "MedicationAdministration:request"),
            ("_include", "MedicationAdministration:patient"),
            ("_count", "500"),
        ],
    )
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    matches = [e["resource"] for e in entries if e["search"]["mode"] == "match"]
    included = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
        for e in entries
        if e["search"]["mode"] == "include"
    }
    assert len(included) == len([e for e in entries if e["search"]["mode"] == "include"])  # each once
    with Session(demo_engine) as db:
        orders = {
            str(o.session_id): str(o.id)
            for o in db.scalars(
                current(m.DoseOrder)
                .join(m.InfusionSession, m.InfusionSession.id == m.DoseOrder.session_id)
                .where(m.InfusionSession.patient_id == aus_patient)
            )
        }
    assert matches and all(
        a["request"]["reference"] == f"MedicationRequest/{orders[a['id']]}" for a in matches
    )
    assert set(included) == {f"MedicationRequest/{orders[a['id']]}" for a in matches} | {
        f"Patient/{aus_patient}"
    }
    assert all(
        r_["resourceType"] != "MedicationRequest" or r_["subject"]["reference"] == f"Patient/{aus_patient}"
        for r_ in included.values()
    )
    # Observation:patient and Observation:performer (a Practitioner: a resource no patient owns).
    r = client.get(
        "/fhir/Observation",
        params=[
            ("patient", str(aus_patient)),
            ("code", "http://loinc.org|8867-4"),
            ("_include", "Observation:patient"),
            ("_include", "Observation:performer"),
        ],
    )
    body = r.json()
    performers = {
        p["reference"]
        for e in body["entry"]
        if e["search"]["mode"] == "match"
        for p in e["resource"].get("performer", [])
    }
    kinds = Counter(e["resource"]["resourceType"] for e in body["entry"] if e["search"]["mode"] == "include")
    assert kinds["Patient"] == 1 and kinds["Practitioner"] == len(performers) > 0
    assert "Observation:colour" in _outcome(
        client.get(f"/fhir/Observation?patient={aus_patient}&_include=Observation:colour"), 400
    )
    assert "another type" in _outcome(
        client.get(f"/fhir/Observation?patient={aus_patient}&_include=Encounter:patient"), 400
    )
    # The front desk may not reach clinical resources through an _include either: Encounter is clinical.
    assert (
        who["front_desk"]
        .client.get(f"/fhir/Encounter?patient={aus_patient}&_include=Encounter:patient")
        .status_code
        == 403
    )


def test_staff_roles_clinics_and_chairs_are_read_and_searched(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    with Session(demo_engine) as db:
        aus = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        den = db.scalar(select(m.Clinic).where(m.Clinic.code == "den"))
        assert aus is not None and den is not None
        aus_staff = {
            str(u) for u in db.scalars(select(m.StaffRole.user_id).where(m.StaffRole.clinic_id == aus.id))
        }
        aus_roles = {
            str(r) for r in db.scalars(select(m.StaffRole.id).where(m.StaffRole.clinic_id == aus.id))
        }
        aus_chairs = {str(c) for c in db.scalars(select(m.Chair.id).where(m.Chair.clinic_id == aus.id))}
        den_chair = db.scalar(select(m.Chair.id).where(m.Chair.clinic_id == den.id))
        network = str(aus.organization_id)
    client = who["front_desk"].client  # no clinical right needed: these are no patient's
    found = {}
    for kind in ("Practitioner", "PractitionerRole", "Organization", "Location"):
        r = client.get(f"/fhir/{kind}?_count=500")
        assert r.status_code == 200, r.text
        found[kind] = {e["resource"]["id"] for e in r.json()["entry"]}
    assert found["Practitioner"] == aus_staff
    assert found["PractitionerRole"] == aus_roles
    assert found["Organization"] == {str(aus.id), network}
    assert found["Location"] == aus_chairs | {str(aus.id)}
    one = next(iter(aus_staff))
    r = client.get(f"/fhir/Practitioner/{one}")
    assert r.status_code == 200 and r.json()["id"] == one
    assert client.get(f"/fhir/Practitioner?_id={one}").json()["total"] == 1
    _outcome(client.get(f"/fhir/Location/{den_chair}"), 404)  # another clinic's chair: not revealed
    assert who["other_clinic_nurse"].client.get(f"/fhir/Location/{den_chair}").status_code == 200
    _outcome(who["anonymous"].client.get(f"/fhir/Organization/{network}"), 401)
    r = client.get(
        "/fhir/PractitionerRole",
        params={"_id": next(iter(aus_roles)), "_include": "PractitionerRole:practitioner"},
    )
    kinds = sorted(e["resource"]["resourceType"] for e in r.json()["entry"])
    assert kinds == ["Practitioner", "PractitionerRole"]
    body = who["anonymous"].client.get("/fhir/metadata").json()
    served = {x["type"]: x for x in body["rest"][0]["resource"]}
    assert {"Practitioner", "PractitionerRole", "Organization", "Location"} <= set(served)
    assert "MedicationAdministration:request" in served["MedicationAdministration"]["searchInclude"]
