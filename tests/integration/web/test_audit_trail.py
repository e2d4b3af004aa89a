"""A complete audit trail (issue 12): every event of a web request carries the client's address and
user agent; refused attempts are audited and nothing else is; the board records which patients
were on screen; every event has the FHIR AuditEvent shape."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow import audit_codes as codes
from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.conftest import DEMO_AS_OF
from tests.integration.web.sign_in_support import forget_sign_ins, post_login

# A Wednesday morning of the demo network (Austin is UTC-6 in November): chairs are busy.
MORNING = datetime(DEMO_AS_OF.year, DEMO_AS_OF.month, DEMO_AS_OF.day, 16, 0, tzinfo=UTC)
ADDRESS = "198.51.100.7"  # TEST-NET-2 (RFC 5737)
AGENT = "AuditTest/1.0 (issue 12)"


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(demo_engine)
    app.dependency_overrides[clock] = lambda: MORNING
    with TestClient(app, client=(ADDRESS, 50123), headers={"User-Agent": AGENT}) as c:
        yield c
    forget_sign_ins(demo_engine)


def sign_in(client: TestClient, login: str) -> dict[str, str]:
    client.cookies.clear()
    response = post_login(client, f"{login}@demo.ketaflow.org")
    assert response.status_code == 303, response.text
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def audit_ids(engine: Engine) -> set[uuid.UUID]:
    with Session(engine) as db:
        return set(db.scalars(select(m.AuditEvent.id)))


def new_events(engine: Engine, before: set[uuid.UUID]) -> list[m.AuditEvent]:
    with Session(engine) as db:
        rows = db.scalars(select(m.AuditEvent).order_by(m.AuditEvent.occurred_at)).all()
        db.expunge_all()
    return [r for r in rows if r.id not in before]


def aus(engine: Engine) -> tuple[uuid.UUID, uuid.UUID]:
    """The Austin clinic's id and a patient of it."""
    with Session(engine) as db:
        clinic_id = db.scalar(select(m.Clinic.id).where(m.Clinic.code == "aus"))
        patient_id = db.scalar(
            select(m.Patient.id).where(m.Patient.clinic_id == clinic_id).order_by(m.Patient.mrn).limit(1)
        )
    assert clinic_id and patient_id
    return clinic_id, patient_id


def test_every_event_of_a_day_through_the_web_has_the_address_and_user_agent(
    client: TestClient, demo_engine: Engine
) -> None:
    _, patient_id = aus(demo_engine)
    before = audit_ids(demo_engine)
    # The front desk: the board, a new patient, the chart, a link for the patient.
    desk = sign_in(client, "frontdesk1.aus")
    assert client.get("/clinics/aus/board").status_code == 200
    tag = uuid.uuid4().hex[:6]
    made = client.post(
        "/api/clinics/aus/patients",
        json={
            "given_name": f"Audra{tag}",
            "family_name": f"Trailson{tag}",
            "date_of_birth": "1979-04-02",
            "sex": "female",
            "phone": "555-0142",
            "weight_kg": 70,
            "height_cm": 170,
        },
        headers=desk,
    )
    assert made.status_code == 201, made.text
    new_patient = made.json()["id"]
    assert client.get(f"/patients/{new_patient}").status_code == 200
    link = client.post(f"/api/patients/{new_patient}/portal-link", headers=desk)
    assert link.status_code == 200, link.text
    client.post("/logout", data={"csrf": desk["X-CSRF-Token"]})
    # The patient opens the link on their own and writes a question for the psychiatrist.
    client.cookies.clear()
    opened = client.post(link.json()["url"], data={"date_of_birth": "1979-04-02"}, follow_redirects=False)
    assert opened.status_code == 303, opened.text
    mine = {"X-CSRF-Token": client.get("/api/me/session").json()["csrf_token"]}
    assert client.get("/me").status_code == 200
    assert client.post("/api/me/questions", json={"text": "Can I drive tomorrow?"}, headers=mine).is_success
    # The nurse: the board and its poll, a chart; the psychiatrist screens medications.
    sign_in(client, "nurse1.aus")
    assert client.get("/api/clinics/aus/board").status_code == 200
    assert client.get(f"/patients/{patient_id}").status_code == 200
    doctor = sign_in(client, "psychiatrist1.aus")
    screened = client.post(
        f"/api/patients/{new_patient}/screen", json={"medications": ["Xanax 0.5 mg"]}, headers=doctor
    )
    assert screened.status_code == 200, screened.text
    assert client.get(f"/api/patients/{patient_id}").status_code == 200

    events = new_events(demo_engine, before)
    actions = {e.action for e in events}
    assert {"auth.sign_in", "board.view", "patient.register", "patient.read", "patient_link.issue"} <= actions
    assert {"patient.sign_in", "portal.home", "patient_question.add", "auth.sign_out"} <= actions
    for event in events:
        assert (event.ip_address, event.user_agent) == (ADDRESS, AGENT), event.action
        assert event.source_observer, event.action
        assert event.outcome == codes.SUCCESS, event.action
        assert event.event_type in codes.CODINGS and (event.event_subtype in codes.CODINGS), event.action
    by_action = {e.action: e for e in events}
    assert by_action["patient.read"].event_subtype == codes.READ
    assert by_action["patient.read"].purpose_of_use == codes.TREAT
    assert by_action["patient.register"].event_subtype == codes.CREATE
    assert by_action["patient.register"].agent_role == "front_desk"
    assert by_action["patient_question.add"].agent_role == "patient"
    assert by_action["patient_question.add"].purpose_of_use is None
    assert (by_action["auth.sign_in"].event_type, by_action["auth.sign_in"].event_subtype) == (
        codes.USER_AUTHENTICATION,
        codes.LOGIN,
    )


def test_a_cross_clinic_read_leaves_one_refused_event_and_nothing_else(
    client: TestClient, demo_engine: Engine
) -> None:
    clinic_id, patient_id = aus(demo_engine)
    sign_in(client, "nurse1.den")
    with Session(demo_engine) as db:
        nurse_id = db.scalar(
            select(m.StaffUser.id).where(m.StaffUser.email == "nurse1.den@demo.ketaflow.org")
        )
    for url, template in (
        (f"/api/patients/{patient_id}", "/api/patients/{patient_id}"),
        (f"/patients/{patient_id}", "/patients/{patient_id}"),
    ):
        before = audit_ids(demo_engine)
        assert client.get(url).status_code == 403
        (event,) = new_events(demo_engine, before)  # exactly one: no read, nothing else
        assert event.action == "access.refused" and event.outcome == codes.REFUSED
        assert (event.actor_user_id, event.agent_role) == (nurse_id, None)  # no role at Austin
        assert (event.entity_type, event.entity_id, event.patient_id) == ("patient", patient_id, patient_id)
        assert event.clinic_id == clinic_id
        assert (event.ip_address, event.user_agent) == (ADDRESS, AGENT)
        assert (event.event_type, event.event_subtype) == (codes.REST, codes.READ)
        assert event.details["route"] == template and event.details["method"] == "GET"
        assert event.details["status"] == 403 and "not a member" in event.details["reason"]
    # A write tried at another clinic: refused, audited as the create it tried.
    before = audit_ids(demo_engine)
    headers = {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}
    refused = client.post(f"/api/patients/{patient_id}/portal-link", headers=headers)
    assert refused.status_code == 403
    (event,) = new_events(demo_engine, before)
    assert (event.outcome, event.event_subtype, event.clinic_id) == (codes.REFUSED, codes.CREATE, clinic_id)
    with Session(demo_engine) as db:
        assert not db.scalars(
            select(m.PatientAccessLink).where(
                m.PatientAccessLink.patient_id == patient_id, m.PatientAccessLink.created_by_id == nurse_id
            )
        ).all()


def test_a_refused_form_with_an_expired_token_is_audited_too(client: TestClient, demo_engine: Engine) -> None:
    _, patient_id = aus(demo_engine)
    sign_in(client, "frontdesk1.aus")
    before = audit_ids(demo_engine)
    assert client.post(f"/patients/{patient_id}/portal-link", data={"csrf": "stale"}).status_code == 403
    (event,) = new_events(demo_engine, before)
    assert event.action == "access.refused" and event.details["route"] == "/patients/{patient_id}/portal-link"
    assert event.event_subtype == codes.CREATE and event.patient_id == patient_id


def test_the_board_and_its_poll_record_which_patients_were_shown(
    client: TestClient, demo_engine: Engine
) -> None:
    clinic_id, _ = aus(demo_engine)
    with Session(demo_engine) as db:  # an hour before the demo's next booking in an Austin chair
        booked = db.scalar(
            select(m.Appointment.starts_at)
            .where(
                m.Appointment.clinic_id == clinic_id,
                m.Appointment.chair_id.isnot(None),
                m.Appointment.starts_at > MORNING,
            )
            .order_by(m.Appointment.starts_at)
            .limit(1)
        )
    assert booked is not None
    busy = booked - timedelta(hours=1)
    client.app.dependency_overrides[clock] = lambda: busy  # type: ignore[attr-defined]
    sign_in(client, "nurse1.aus")
    before = audit_ids(demo_engine)
    poll = client.get("/api/clinics/aus/board").json()
    (event,) = new_events(demo_engine, before)
    slots = [c["now"] for c in poll["chairs"]] + [s for c in poll["chairs"] for s in c["later"]]
    shown = {s["patient_id"] for s in slots + poll["unassigned"] if s}
    assert shown, "the board of a busy moment shows patients"
    assert (event.action, event.clinic_id) == ("board.view", clinic_id)
    assert set(event.details["patients"]) == shown and len(event.details["patients"]) == len(shown)
    before = audit_ids(demo_engine)
    page = client.get("/clinics/aus/board")
    (event,) = new_events(demo_engine, before)
    assert set(event.details["patients"]) == shown
    with Session(demo_engine) as db:
        names = db.scalars(
            select(m.Patient.family_name).where(m.Patient.id.in_([uuid.UUID(p) for p in shown]))
        ).all()
    assert all(name in page.text for name in names)  # each listed patient is on the page
