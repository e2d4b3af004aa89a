"""The patient's "download my record": their whole record as a FHIR Bundle and a readable page,
theirs only, audited; nothing without a patient session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.fhir.mapping import references
from ketaflow.store import models as m
from ketaflow.store.facts import current
from ketaflow.vocabulary import Instrument
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.test_portal import issue_link, sign_in

NOW = datetime(2027, 3, 5, 17, 0, tzinfo=UTC)  # a day no other test uses


@pytest.fixture(scope="module")
def client(demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(demo_engine)
    app.dependency_overrides[clock] = lambda: NOW
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def treated(demo_engine: Engine) -> m.Patient:
    """An Austin patient with infusions and PHQ-9 totals."""
    with Session(demo_engine) as db:
        q = m.QuestionnaireResponse
        pid = db.scalar(
            select(m.InfusionSession.patient_id)
            .join(m.Clinic, m.Clinic.id == m.InfusionSession.clinic_id)
            .join(q, q.patient_id == m.InfusionSession.patient_id)
            .where(m.Clinic.code == "aus", q.instrument == Instrument.PHQ9)
            .order_by(m.InfusionSession.patient_id)
            .limit(1)
        )
        patient = db.get(m.Patient, pid)
        assert patient is not None
        db.expunge(patient)
        return patient


def _open_as(client: TestClient, patient: m.Patient) -> None:
    url = issue_link(client, patient.id)
    r = client.post(url, data={"date_of_birth": patient.date_of_birth.isoformat()}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_the_patient_downloads_their_whole_record(
    client: TestClient, treated: m.Patient, demo_engine: Engine
) -> None:
    client.cookies.clear()
    assert client.get("/me/record.json").status_code == 401
    _open_as(client, treated)
    assert 'href="/me/record.json"' in client.get("/me").text

    r = client.get("/me/record.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["cache-control"] == "no-store"
    bundle = r.json()
    assert bundle["type"] == "collection"
    resources = [e["resource"] for e in bundle["entry"]]
    patients = [x["id"] for x in resources if x["resourceType"] == "Patient"]
    assert patients == [str(treated.id)]
    mentioned = {t for x in resources for t in references(x) if t.startswith("Patient/")}
    assert mentioned == {f"Patient/{treated.id}"}
    present = {f"{x['resourceType']}/{x['id']}" for x in resources}
    assert {t for x in resources for t in references(x)} <= present

    with Session(demo_engine) as db:
        q = m.QuestionnaireResponse
        phq9_totals = db.scalar(
            select(func.count()).select_from(
                current(q)
                .where(q.patient_id == treated.id, q.instrument == Instrument.PHQ9, q.total.is_not(None))
                .subquery()
            )
        )
        downloads = db.scalar(
            select(func.count())
            .select_from(m.AuditEvent)
            .where(m.AuditEvent.action == "portal.record_download", m.AuditEvent.patient_id == treated.id)
        )
    coded = [
        x
        for x in resources
        if x["resourceType"] == "Observation" and x["code"]["coding"][0]["code"] == "44261-6"
    ]
    assert len(coded) == phq9_totals and phq9_totals > 0
    assert downloads == 1


def test_the_readable_page_matches_the_file(client: TestClient, treated: m.Patient) -> None:
    client.cookies.clear()
    _open_as(client, treated)
    r = client.get("/me/record")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    html = r.text
    assert treated.mrn in html and "Questionnaire scores" in html and "Infusions" in html
    bundle = client.get("/me/record.json").json()
    infusions = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationAdministration"]
    # Each infusion's milligrams as the file gives them are on the page.
    for entry in infusions:
        assert f"{entry['resource']['dosage']['dose']['value']} mg" in html


def test_staff_cannot_use_the_patients_download(client: TestClient) -> None:
    client.cookies.clear()
    sign_in(client, "nurse1.aus")
    assert client.get("/me/record.json").status_code == 401
