"""Every role against the patient-page endpoints: the staff link endpoint and the patient's own API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import Sex
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.roles import ROLES, Caller, callers, expected

COVERS = {
    ("POST", "/api/patients/{patient_id}/portal-link"),
    ("GET", "/api/me/session"),
    ("GET", "/api/me/home"),
    ("GET", "/api/me/questions"),
    ("POST", "/api/me/questions"),
    ("GET", "/api/me/questionnaires/{key}"),
    ("POST", "/api/me/questionnaires/{key}"),
    ("POST", "/api/me/sign-out"),
}
NOW = datetime(2027, 3, 3, 17, 0, tzinfo=UTC)  # a day no other test uses
LABELS = list(ROLES)
ISSUERS = {"admin", "psychiatrist", "nurse", "front_desk"}  # permissions.ISSUE_PATIENT_LINK

# (method, path, body) of every patient endpoint, with a body that succeeds.
PATIENT_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/me/session", None),
    ("GET", "/api/me/home", None),
    ("GET", "/api/me/questions", None),
    ("POST", "/api/me/questions", {"text": "How long will I stay after the infusion?"}),
    ("GET", "/api/me/questionnaires/phq9", None),
    ("POST", "/api/me/questionnaires/phq9", {"answers": [1, 1, 1, 1, 1, 1, 1, 1, 0]}),
    ("GET", "/api/me/questionnaires/gad7", None),
    ("POST", "/api/me/questionnaires/gad7", {"answers": [0, 1, 2, 3, 0, 1, 2]}),
    ("POST", "/api/me/sign-out", None),
]


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


def new_patient(engine: Engine) -> uuid.UUID:
    with Session(engine) as db:
        clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert clinic is not None
        patient = m.Patient(
            organization_id=clinic.organization_id,
            clinic_id=clinic.id,
            mrn=f"PR-{uuid.uuid4().hex[:10]}",
            given_name="Rowan",
            family_name="Rolecheck",
            date_of_birth=date(1975, 1, 2),
            sex=Sex.MALE,
        )
        db.add(patient)
        db.commit()
        return patient.id


@dataclass
class PatientCaller:
    client: TestClient
    headers: dict[str, str]
    patient_id: uuid.UUID


@pytest.fixture
def patient(demo_engine: Engine, who: dict[str, Caller]) -> Iterator[PatientCaller]:
    """A fresh patient signed in through a link issued by the front desk."""
    pid = new_patient(demo_engine)
    desk = who["front_desk"]
    url = desk.client.post(f"/api/patients/{pid}/portal-link", headers=desk.headers).json()["url"]
    app = create_app(demo_engine)
    app.dependency_overrides[clock] = lambda: NOW
    with TestClient(app) as client:
        assert (
            client.post(url, data={"date_of_birth": "1975-01-02"}, follow_redirects=False).status_code == 303
        )
        headers = {"X-CSRF-Token": client.get("/api/me/session").json()["csrf_token"]}
        yield PatientCaller(client, headers, pid)


def _status(client: TestClient, method: str, url: str, body: Any = None, headers: Any = None) -> int:
    r = client.request(method, url, json=body, headers=headers or {})
    assert "Traceback" not in r.text
    if r.status_code >= 400:
        assert r.json()["error"], "every refusal says why"
    return r.status_code


def _audits(engine: Engine, outcome: str = "success") -> int:
    """Audit events with this outcome (a refused attempt writes one refused event, issue 12)."""
    with engine.connect() as conn:
        return (
            conn.scalar(select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.outcome == outcome))
            or 0
        )


# ---- the staff endpoint ------------------------------------------------------------------------


@pytest.mark.parametrize("label", LABELS)
def test_issuing_a_link_is_for_the_clinics_desk_nurses_psychiatrists_and_admin(
    who: dict[str, Caller], demo_engine: Engine, label: str
) -> None:
    pid = new_patient(demo_engine)
    caller = who[label]
    r = caller.client.post(f"/api/patients/{pid}/portal-link", headers=caller.headers)
    assert r.status_code == expected(label, ISSUERS), (label, r.text)
    with Session(demo_engine) as db:
        links = db.scalar(
            select(func.count()).select_from(m.PatientAccessLink).where(m.PatientAccessLink.patient_id == pid)
        )
    if r.status_code == 200:
        assert r.json()["url"].startswith("http://testserver/p/") and r.json()["valid_days"] == 7
        assert r.json()["needs_date_of_birth"] is True
        assert r.json()["expires_at"] == "2027-03-10T17:00:00+00:00" and links == 1
    else:
        assert r.json()["error"] and links == 0


@pytest.mark.parametrize("label", LABELS)
def test_the_staff_link_page_follows_the_same_rule(
    who: dict[str, Caller], demo_engine: Engine, label: str
) -> None:
    pid = new_patient(demo_engine)
    r = who[label].client.get(f"/patients/{pid}/portal-link", follow_redirects=False)
    want = {200: 200, 401: 303, 403: 403}[expected(label, ISSUERS)]
    assert r.status_code == want and "Traceback" not in r.text


def test_issuing_without_the_csrf_header_is_refused_and_writes_nothing(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine)
    before, refused = _audits(demo_engine), _audits(demo_engine, "refused")
    r = who["front_desk"].client.post(f"/api/patients/{pid}/portal-link")
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    assert _audits(demo_engine) == before  # nothing done: only the refusal is audited
    assert _audits(demo_engine, "refused") == refused + 1


def test_issuing_for_an_unknown_or_malformed_patient(who: dict[str, Caller]) -> None:
    desk = who["front_desk"]
    assert (
        _status(desk.client, "POST", f"/api/patients/{uuid.uuid4()}/portal-link", headers=desk.headers) == 404
    )
    assert _status(desk.client, "POST", "/api/patients/not-a-uuid/portal-link", headers=desk.headers) == 422


# ---- the patient's endpoints -------------------------------------------------------------------


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize(("method", "path", "body"), PATIENT_CALLS)
def test_staff_and_strangers_cannot_use_the_patient_api(
    who: dict[str, Caller], label: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    caller = who[label]
    assert _status(caller.client, method, path, body, caller.headers) == 401


@pytest.mark.parametrize(("method", "path", "body"), PATIENT_CALLS)
def test_the_signed_in_patient_can_use_every_patient_endpoint(
    patient: PatientCaller, method: str, path: str, body: dict[str, Any] | None
) -> None:
    want = 204 if path.endswith("sign-out") else 200
    assert _status(patient.client, method, path, body, patient.headers) == want


@pytest.mark.parametrize(("method", "path", "body"), [c for c in PATIENT_CALLS if c[0] == "POST"])
def test_a_patient_change_without_the_csrf_header_is_refused_and_writes_nothing(
    patient: PatientCaller, demo_engine: Engine, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before, refused = _audits(demo_engine), _audits(demo_engine, "refused")
    r = patient.client.request(method, path, json=body)
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    wrong = patient.client.request(method, path, json=body, headers={"X-CSRF-Token": "not-it"})
    assert wrong.status_code == 403
    assert _audits(demo_engine) == before  # nothing done: only the two refusals are audited
    assert _audits(demo_engine, "refused") == refused + 2


def test_the_staff_csrf_token_is_not_the_patients(patient: PatientCaller, who: dict[str, Caller]) -> None:
    staff_token = who["nurse"].headers
    r = patient.client.post("/api/me/questions", json={"text": "A question"}, headers=staff_token)
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/api/me/questions", {"text": ""}, 400, "Write your question"),
        ("/api/me/questions", {"text": "   "}, 400, "Write your question"),
        ("/api/me/questions", {}, 400, "Write your question"),
        ("/api/me/questions", {"text": "q" * 2001}, 400, "2000 characters"),
        ("/api/me/questionnaires/phq9", {"answers": [1] * 8}, 400, "needs 9 answers"),
        ("/api/me/questionnaires/phq9", {"answers": [1] * 10}, 400, "needs 9 answers"),
        (
            "/api/me/questionnaires/phq9",
            {"answers": [1, None, 1, 1, 1, 1, 1, 1, 1]},
            400,
            "item 2 is unanswered",
        ),
        (
            "/api/me/questionnaires/phq9",
            {"answers": [1, 1, 1, 1, 1, 1, 1, 1, None]},
            400,
            "item 9 is unanswered",
        ),
        ("/api/me/questionnaires/phq9", {"answers": [4, 1, 1, 1, 1, 1, 1, 1, 1]}, 400, "must be 0 to 3"),
        ("/api/me/questionnaires/phq9", {"answers": [-1, 1, 1, 1, 1, 1, 1, 1, 1]}, 400, "must be 0 to 3"),
        ("/api/me/questionnaires/phq9", {"answers": ["a", 1, 1, 1, 1, 1, 1, 1, 1]}, 422, "cannot be used"),
        ("/api/me/questionnaires/phq9", {}, 422, "cannot be used"),
        ("/api/me/questionnaires/gad7", {"answers": [1] * 9}, 400, "needs 7 answers"),
        ("/api/me/questionnaires/madrs", {"answers": [1] * 10}, 404, "no such questionnaire"),
    ],
)
def test_bad_patient_input_is_refused_with_a_sentence_and_nothing_is_kept(
    patient: PatientCaller, demo_engine: Engine, path: str, body: dict[str, Any], status: int, says: str
) -> None:
    before = _audits(demo_engine)
    r = patient.client.post(path, json=body, headers=patient.headers)
    assert r.status_code == status and says in r.json()["error"], r.text
    assert _audits(demo_engine) == before
    with Session(demo_engine) as db:
        for model in (m.PatientQuestion, m.QuestionnaireResponse):
            count = db.scalar(
                select(func.count()).select_from(model).where(model.patient_id == patient.patient_id)  # type: ignore[attr-defined]
            )
            assert count == 0


def test_the_patient_api_keeps_answers_and_raises_the_item_9_alert(
    patient: PatientCaller, demo_engine: Engine
) -> None:
    r = patient.client.post(
        "/api/me/questionnaires/phq9", json={"answers": [3, 3, 3, 3, 3, 3, 3, 3, 1]}, headers=patient.headers
    )
    body = r.json()
    assert r.status_code == 200 and body["total"] == 25 and body["severity"] == "severe"
    assert body["suicide_risk"] is True and "988" in body["crisis"]["line"]
    assert body["for_date"] == "2027-03-03"
    with Session(demo_engine) as db:
        alert = db.scalar(
            select(m.AuditEvent).where(
                m.AuditEvent.patient_id == patient.patient_id,
                m.AuditEvent.action == "questionnaire.suicide_risk_alert",
            )
        )
        assert alert is not None and alert.actor_label == "patient"


def test_after_sign_out_the_patient_api_is_closed(patient: PatientCaller) -> None:
    assert _status(patient.client, "POST", "/api/me/sign-out", headers=patient.headers) == 204
    assert _status(patient.client, "GET", "/api/me/session") == 401
    assert patient.client.get("/me").status_code == 401


def test_a_patient_session_reaches_no_staff_endpoint(patient: PatientCaller) -> None:
    c = patient.client
    for method, url in (
        ("GET", "/api/me"),
        ("GET", "/api/clinics"),
        ("GET", "/api/clinics/aus/board"),
        ("GET", f"/api/patients/{patient.patient_id}"),
        ("POST", f"/api/patients/{patient.patient_id}/portal-link"),
    ):
        assert _status(c, method, url, headers=patient.headers) == 401, url
