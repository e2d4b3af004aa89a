"""Who may call each outcomes API endpoint, and what bad requests get back.

Outcomes (network, clinic, dissociation) are for ``Action.VIEW_OUTCOMES``: admin, director,
psychiatrist of the clinic. A patient's trajectory is a chart read (``Action.READ_CHART``):
every clinical role of the patient's clinic. A nurse of the other demo clinic is refused,
a stranger gets 401. Every endpoint here is a read (GET): the CSRF header guards changes
only, so the allowed roles are served without it (checked below by never sending it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select

from ketaflow.store import models as m
from ketaflow.web.app import create_app
from tests.integration.web.sign_in_support import post_login

# The endpoints this module tests for every role (checked together by test_endpoint_coverage.py).
COVERS = {
    ("GET", "/api/outcomes"),
    ("GET", "/api/clinics/{code}/outcomes"),
    ("GET", "/api/outcomes/dissociation"),
    ("GET", "/api/patients/{patient_id}/outcomes"),
}

ADMIN = "admin@demo.ketaflow.org"
DIRECTOR = "director1.aus"
PSYCHIATRIST = "psychiatrist1.aus"
NURSE = "nurse1.aus"
FRONT_DESK = "frontdesk1.aus"
OTHER_NURSE = "nurse1.den"
ANONYMOUS = None

OUTCOME_ROLES = {
    ADMIN: 200,
    DIRECTOR: 200,
    PSYCHIATRIST: 200,
    NURSE: 403,
    FRONT_DESK: 403,
    OTHER_NURSE: 403,
    ANONYMOUS: 401,
}
CLINICAL_ROLES = {  # permissions.READ_CLINICAL: one patient's questionnaire trajectory
    ADMIN: 200,
    DIRECTOR: 200,
    PSYCHIATRIST: 200,
    NURSE: 200,
    FRONT_DESK: 403,
    OTHER_NURSE: 403,
    ANONYMOUS: 401,
}
ENDPOINTS = {
    "/api/outcomes": OUTCOME_ROLES,
    "/api/clinics/aus/outcomes": OUTCOME_ROLES,
    "/api/outcomes/dissociation": OUTCOME_ROLES,
    "/api/patients/{patient}/outcomes": CLINICAL_ROLES,
}
CASES = [(url, who, status) for url, table in ENDPOINTS.items() for who, status in table.items()]


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(demo_engine)) as c:
        yield c
    with demo_engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


@pytest.fixture
def aus_patient(demo_engine: Engine) -> uuid.UUID:
    with demo_engine.connect() as conn:
        pid = conn.scalar(
            select(m.Patient.id)
            .join(m.Clinic, m.Clinic.id == m.Patient.clinic_id)
            .where(m.Clinic.code == "aus")
            .order_by(m.Patient.mrn)
            .limit(1)
        )
    assert pid is not None
    return pid


def sign_in(client: TestClient, who: str | None) -> None:
    client.cookies.clear()
    if who is None:
        return
    email = who if "@" in who else f"{who}@demo.ketaflow.org"
    r = post_login(client, email)
    assert r.status_code == 303, r.text


@pytest.mark.parametrize(("url", "who", "status"), CASES, ids=[f"{u} {w} {s}" for u, w, s in CASES])
def test_each_role_is_allowed_or_refused_as_the_permissions_say(
    client: TestClient, aus_patient: uuid.UUID, url: str, who: str | None, status: int
) -> None:
    sign_in(client, who)
    r = client.get(url.format(patient=aus_patient))  # no X-CSRF-Token: reads do not need it
    assert r.status_code == status, r.text
    body = r.json()
    if status == 200:
        assert "error" not in body
    else:
        assert isinstance(body["error"], str) and body["error"].endswith(".")


def test_a_director_sees_their_clinic_and_the_admin_the_network(client: TestClient) -> None:
    sign_in(client, DIRECTOR)
    assert client.get("/api/outcomes").json()["clinics_visible"] == ["aus"]
    sign_in(client, ADMIN)
    data = client.get("/api/outcomes").json()
    assert data["clinics_visible"] == ["aus", "den"]
    assert data["total"]["patients_treated"] == sum(c["patients_treated"] for c in data["clinics"])
    r = data["total"]["response"]
    assert r["ci_low"] <= r["estimate"] <= r["ci_high"]


def test_a_psychiatrist_of_one_clinic_is_refused_another_clinic(client: TestClient) -> None:
    sign_in(client, PSYCHIATRIST)
    r = client.get("/api/clinics/den/outcomes")
    assert r.status_code == 403 and "not a member" in r.json()["error"]


def test_the_patient_api_returns_the_trajectory(client: TestClient, aus_patient: uuid.UUID) -> None:
    sign_in(client, NURSE)
    data = client.get(f"/api/patients/{aus_patient}/outcomes").json()
    assert data["patient_id"] == str(aus_patient)
    assert {"infusions", "instruments", "mrn"} <= set(data)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/clinics/nowhere/outcomes", 404),
        ("/api/patients/{random}/outcomes", 404),
        ("/api/patients/not-an-id/outcomes", 422),
    ],
)
def test_bad_requests_get_a_sentence(client: TestClient, url: str, status: int) -> None:
    sign_in(client, ADMIN)
    r = client.get(url.format(random=uuid.uuid4()))
    assert r.status_code == status
    assert isinstance(r.json()["error"], str)


def test_the_outcomes_api_takes_no_writes(client: TestClient) -> None:
    sign_in(client, ADMIN)
    r = client.post("/api/outcomes", json={})
    assert r.status_code == 405 and "error" in r.json()
