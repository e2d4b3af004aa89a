"""Who may read the discharge checklist and who may discharge, through the API; bad input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.test_discharge import (
    READY,
    Clock,
    Visit,
    at_observation_end,
    counts,
    make_visit,
    sign_in,
)

# (login, may read the checklist [READ_CLINICAL], may print the after-care sheet [READ_CHART],
#  may discharge [DISCHARGE])
COVERS = {("GET", "/api/sessions/{session_id}/discharge"), ("POST", "/api/sessions/{session_id}/discharge")}
ROLES = [
    ("admin", True, True, False),
    ("director1.aus", True, True, False),
    ("psychiatrist1.aus", True, True, True),
    ("nurse1.aus", True, True, True),
    ("frontdesk1.aus", False, True, False),  # hands the sheet over; clinical records are not theirs
    ("nurse1.den", False, False, False),  # a nurse of the other demo clinic
]


def discharge_audits(engine: Engine, visit: Visit) -> int:
    with engine.connect() as conn:
        return (
            conn.scalar(
                select(func.count())
                .select_from(m.AuditEvent)
                .where(m.AuditEvent.entity_id == visit.session_id, m.AuditEvent.action == "session.discharge")
            )
            or 0
        )


@pytest.fixture
def app(demo_engine: Engine) -> Iterator[tuple[TestClient, Clock]]:
    application = create_app(demo_engine)
    frozen = Clock()
    application.dependency_overrides[clock] = frozen
    with TestClient(application) as client:
        yield client, frozen
    with demo_engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


@pytest.mark.parametrize(("login", "may_read", "may_print", "may_discharge"), ROLES)
def test_readiness_and_discharge_by_role(
    app: tuple[TestClient, Clock],
    demo_engine: Engine,
    login: str,
    may_read: bool,
    may_print: bool,
    may_discharge: bool,
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    at_observation_end(frozen, visit)
    headers = sign_in(client, login)
    url = f"/api/sessions/{visit.session_id}/discharge"
    read = client.get(url)
    assert read.status_code == (200 if may_read else 403), read.text
    if may_read:
        assert read.json()["ready"] is False and len(read.json()["criteria"]) == 11
        assert read.json()["may_discharge"] is may_discharge
    elif may_print:  # a member of the clinic whose role does not read clinical records
        assert "does not allow you to read clinical records" in read.json()["error"]
    else:
        assert "clinic you are not a member of" in read.json()["error"]
    assert counts(demo_engine, visit) == (0, "in_chair", 1) and discharge_audits(demo_engine, visit) == 0
    done = client.post(url, json=READY, headers=headers)
    assert done.status_code == (200 if may_discharge else 403), done.text
    if not may_discharge:
        assert "error" in done.json() and "Traceback" not in done.text
    # A refusal writes nothing: no discharge row, the appointment untouched, no audit of a discharge.
    assert counts(demo_engine, visit) == ((1, "completed", 2) if may_discharge else (0, "in_chair", 1))
    assert discharge_audits(demo_engine, visit) == (1 if may_discharge else 0)
    page = client.get(f"/sessions/{visit.session_id}/discharge")
    assert page.status_code == (200 if may_read else 403)
    if may_read and not may_discharge:
        assert "Discharge the patient</button>" not in page.text
    sheet = client.get(f"/sessions/{visit.session_id}/aftercare")
    assert sheet.status_code == (200 if may_print else 403)


def test_anonymous_is_401_and_a_missing_csrf_header_is_403(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    at_observation_end(frozen, visit)
    url = f"/api/sessions/{visit.session_id}/discharge"
    client.cookies.clear()
    assert client.get(url).status_code == 401
    assert client.post(url, json=READY).status_code == 401
    assert client.get(f"/sessions/{visit.session_id}/discharge", follow_redirects=False).status_code == 303
    sign_in(client, "nurse1.aus")
    no_token = client.post(url, json=READY)
    assert no_token.status_code == 403 and "X-CSRF-Token" in no_token.json()["error"]
    wrong = client.post(url, json=READY, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"score": 11}, 400, "must be 0 to 10"),
        ({"score": -1}, 400, "must be 0 to 10"),
        ({"score_kind": "gcs"}, 400, "Aldrete or PADSS"),
        ({"nausea": "awful"}, 400, "Nausea must be one of"),
        ({"score": "ten"}, 422, "score"),
        ({"walks_with_help": "perhaps"}, 422, "walks_with_help"),
        ({"driver": "555-0100"}, 400, "Confirm the driver"),
        ({"version": 99}, 409, "changed by someone else"),
    ],
)
def test_bad_input_is_refused_with_a_sentence_and_nothing_saved(
    app: tuple[TestClient, Clock], demo_engine: Engine, change: dict[str, object], status: int, words: str
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    at_observation_end(frozen, visit)
    nurse = sign_in(client, "nurse1.aus")
    url = f"/api/sessions/{visit.session_id}/discharge"
    r = client.post(url, json={**READY, **change}, headers=nurse)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert client.get(url).json()["discharged"] is None


def test_bad_preview_values_and_unknown_sessions(app: tuple[TestClient, Clock], demo_engine: Engine) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    at_observation_end(frozen, visit)
    nurse = sign_in(client, "nurse1.aus")
    url = f"/api/sessions/{visit.session_id}/discharge"
    bad = client.get(url, params={"score": "abc"})
    assert bad.status_code == 400 and bad.json()["field"] == "score"
    missing = f"/api/sessions/{uuid.uuid4()}/discharge"
    assert client.get(missing).status_code == 404
    assert client.post(missing, json=READY, headers=nurse).status_code == 404
    assert client.get("/api/sessions/not-a-uuid/discharge").status_code == 422


# (login, status of a discharge with suicidal ideation present and a written assessment, status of
#  the checklist previewed with them): only ASSESS_SUICIDE_RISK (the psychiatrist) may give the
#  assessment; others who may read the checklist get the refusal beside the field.
ASSESSORS = [
    ("admin", 403, 400),
    ("director1.aus", 403, 400),
    ("psychiatrist1.aus", 200, 200),
    ("nurse1.aus", 400, 400),  # may discharge, not with ideation present: the assessment is refused
    ("frontdesk1.aus", 403, 403),
    ("nurse1.den", 403, 403),
]


@pytest.mark.parametrize(("login", "status", "preview_status"), ASSESSORS)
def test_only_the_psychiatrist_discharges_a_patient_with_suicidal_ideation(
    app: tuple[TestClient, Clock], demo_engine: Engine, login: str, status: int, preview_status: int
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    at_observation_end(frozen, visit)
    headers = sign_in(client, login)
    url = f"/api/sessions/{visit.session_id}/discharge"
    body = {
        **READY,
        "suicidal_ideation": "present",
        "suicide_risk_assessment": "No intent or plan; safety plan.",
    }
    done = client.post(url, json=body, headers=headers)
    assert done.status_code == status, done.text
    if status == 400:
        assert done.json()["field"] == "suicide_risk_assessment"
    preview = client.get(url, params={k: str(v) for k, v in body.items()})
    assert preview.status_code == preview_status, preview.text
    if preview_status == 400:
        assert preview.json()["field"] == "suicide_risk_assessment"
    with Session(demo_engine) as db:
        written = db.scalar(
            select(func.count())
            .select_from(m.DischargeScreen)
            .where(m.DischargeScreen.session_id == visit.session_id)
        )
    assert written == (1 if status == 200 else 0)  # refused input charts nothing
