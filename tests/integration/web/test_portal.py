"""The patient's own page: one-time link, /me, questions for the psychiatrist, PHQ-9 from home."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ketaflow.demo.catalog import DEMO_PASSWORD
from ketaflow.errors import Forbidden
from ketaflow.security import token_digest
from ketaflow.services import auth, patient_access
from ketaflow.services.patient_reports import patient_reports
from ketaflow.settings import get_settings
from ketaflow.store import models as m
from ketaflow.store.engine import make_sessionmaker
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus, Instrument, Respondent, Sex
from ketaflow.web.app import create_app
from ketaflow.web.content import portal_content
from ketaflow.web.deps import clock
from tests.integration.web.sign_in_support import post_login

BIRTH = "1980-05-17"  # the date of birth of the patients made here
# A date no other test module uses: 2027-02-10, 10:00 in Austin (America/Chicago, UTC-6).
T0 = datetime(2027, 2, 10, 16, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    client: TestClient
    clock: Clock
    engine: Engine
    patient: uuid.UUID  # patient A, in Austin, with an appointment tomorrow
    other: uuid.UUID  # patient B, same clinic
    given_name: str


def _patient(db: Session, clinic: m.Clinic, given: str) -> m.Patient:
    patient = m.Patient(
        organization_id=clinic.organization_id,
        clinic_id=clinic.id,
        mrn=f"PT-{uuid.uuid4().hex[:10]}",
        given_name=given,
        family_name="Portaltest",
        date_of_birth=date(1980, 5, 17),
        sex=Sex.FEMALE,
    )
    db.add(patient)
    return patient


@pytest.fixture
def world(demo_engine: Engine) -> Iterator[World]:
    app = create_app(demo_engine)
    frozen = Clock()
    app.dependency_overrides[clock] = frozen
    given = f"Wren{uuid.uuid4().hex[:6]}"
    with Session(demo_engine) as db:
        clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert clinic is not None
        a = _patient(db, clinic, given)
        b = _patient(db, clinic, f"Other{uuid.uuid4().hex[:6]}")
        db.flush()
        db.add(
            m.Appointment(
                clinic_id=clinic.id,
                patient_id=a.id,
                kind=AppointmentKind.CONSULTATION,
                starts_at=T0 + timedelta(days=1),
                ends_at=T0 + timedelta(days=1, hours=1),
                status=AppointmentStatus.BOOKED,
            )
        )
        db.commit()
        ids = (a.id, b.id)
    with TestClient(app) as client:
        yield World(client, frozen, demo_engine, ids[0], ids[1], given)
    with demo_engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


def sign_in(client: TestClient, who: str) -> dict[str, str]:
    """Sign a staff member in (clearing every cookie first); returns the CSRF header."""
    client.cookies.clear()
    email = who if "@" in who else f"{who}@demo.ketaflow.org"
    r = post_login(client, email)
    assert r.status_code == 303, r.text
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def issue_link(client: TestClient, patient_id: uuid.UUID, who: str = "frontdesk1.aus") -> str:
    headers = sign_in(client, who)
    r = client.post(f"/api/patients/{patient_id}/portal-link", headers=headers)
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return str(r.json()["url"])


def open_as_patient(client: TestClient, patient_id: uuid.UUID) -> dict[str, str]:
    """Issue a link, open it with no other cookie, and return the patient's CSRF header."""
    url = issue_link(client, patient_id)
    r = client.post(url, data={"date_of_birth": BIRTH}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me", r.text
    return {"X-CSRF-Token": client.get("/api/me/session").json()["csrf_token"]}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def responses_of(engine: Engine, patient_id: uuid.UUID) -> list[m.QuestionnaireResponse]:
    with Session(engine) as db:
        return list(
            db.scalars(
                select(m.QuestionnaireResponse)
                .where(m.QuestionnaireResponse.patient_id == patient_id)
                .order_by(m.QuestionnaireResponse.answered_at)
            )
        )


def questions_of(engine: Engine, patient_id: uuid.UUID) -> int:
    with Session(engine) as db:
        return (
            db.scalar(
                select(func.count())
                .select_from(m.PatientQuestion)
                .where(m.PatientQuestion.patient_id == patient_id)
            )
            or 0
        )


def audits(engine: Engine, patient_id: uuid.UUID, action: str) -> list[m.AuditEvent]:
    with Session(engine) as db:
        return list(
            db.scalars(
                select(m.AuditEvent).where(
                    m.AuditEvent.patient_id == patient_id, m.AuditEvent.action == action
                )
            )
        )


# ---- the link ------------------------------------------------------------------------------


def test_a_link_opens_the_page_once_and_a_second_use_is_refused(world: World) -> None:
    client = world.client
    url = issue_link(client, world.patient)
    assert url.startswith("http://testserver/p/")
    for _ in range(2):  # looking at the link (a scanner, a preview) does not use it up
        look = client.get(url, follow_redirects=False)
        assert look.status_code == 200 and "Open my page" in look.text
        assert look.headers["cache-control"] == "no-store" and "noindex" in look.headers["x-robots-tag"]
        assert "set-cookie" not in look.headers and world.given_name not in look.text
    first = client.post(url, data={"date_of_birth": BIRTH}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/me"
    cookie = first.headers["set-cookie"]
    assert (
        cookie.startswith("ketaflow_patient=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    )
    assert "Secure" not in cookie  # plain http in the test; https requests get Secure
    home = client.get("/me")
    assert home.status_code == 200
    assert f"Hello {world.given_name}" in home.text
    assert "Bring a driver" in home.text and "988" in home.text
    assert "Getting ready for your first visit" in home.text

    client.cookies.clear()
    looked = client.get(url, follow_redirects=False)
    assert looked.status_code == 410 and "already been used" in looked.text
    again = client.post(url, data={"date_of_birth": BIRTH}, follow_redirects=False)
    assert again.status_code == 410
    assert "already been used" in again.text and "Ask your clinic for a new link" in again.text
    assert world.given_name not in again.text
    assert client.get("/me").status_code == 401

    assert len(audits(world.engine, world.patient, "patient.sign_in")) == 1
    (refused,) = audits(world.engine, world.patient, "patient_link.refused_used")
    assert refused.actor_label == "patient" and refused.actor_user_id is None
    (read,) = audits(world.engine, world.patient, "portal.home")
    assert read.actor_label == "patient"


def test_links_are_built_on_the_public_address_when_one_is_set(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KETAFLOW_PUBLIC_URL", "https://care.example.org/")
    get_settings.cache_clear()
    try:
        url = issue_link(world.client, world.patient)
    finally:
        monkeypatch.delenv("KETAFLOW_PUBLIC_URL")
        get_settings.cache_clear()
    assert url.startswith("https://care.example.org/p/") and "//p/" not in url
    token_path = url.removeprefix("https://care.example.org")
    opened = world.client.post(token_path, data={"date_of_birth": BIRTH}, follow_redirects=False)
    assert opened.status_code == 303


def test_an_expired_or_unknown_link_gets_a_friendly_page_and_no_session(world: World) -> None:
    client = world.client
    url = issue_link(client, world.patient)
    world.clock.now = T0 + timedelta(days=7, seconds=1)
    for method in ("GET", "POST"):
        expired = client.request(method, url, follow_redirects=False)
        assert expired.status_code == 410 and "This link has expired" in expired.text
        assert "ketaflow_patient" not in expired.headers.get("set-cookie", "")
        unknown = client.request(method, "/p/not-a-real-token", follow_redirects=False)
        assert unknown.status_code == 400 and "This link is not valid" in unknown.text
    assert "Traceback" not in unknown.text and client.get("/me").status_code == 401


def test_the_staff_page_shows_the_url_once_and_stores_only_its_hash(world: World) -> None:
    client = world.client
    sign_in(client, "nurse1.aus")
    form = client.get(f"/patients/{world.patient}/portal-link")
    assert form.status_code == 200 and "Create a one-time link" in form.text
    assert "No link has been given" in form.text
    made = client.post(f"/patients/{world.patient}/portal-link", data={"csrf": csrf_of(form.text)})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    found = re.search(r'class="handout-url">(http://testserver/p/([^<]+))<', made.text)
    assert found, made.text
    token = found.group(2)
    assert "shown only this once" in made.text and "for the patient alone" in made.text
    with Session(world.engine) as db:
        link = db.scalar(select(m.PatientAccessLink).where(m.PatientAccessLink.patient_id == world.patient))
        assert (
            link is not None and link.token_sha256 == token_digest(token) and token not in link.token_sha256
        )
        assert link.expires_at == T0 + timedelta(days=7)
    later = client.get(f"/patients/{world.patient}/portal-link")
    assert token not in later.text and "not opened yet" in later.text
    refused = client.post(f"/patients/{world.patient}/portal-link", data={"csrf": "wrong"})
    assert refused.status_code == 403
    assert audits(world.engine, world.patient, "patient_link.issue")[0].actor_label.startswith("nurse1.aus")


def test_the_chart_links_to_the_link_page(world: World) -> None:
    sign_in(world.client, "frontdesk1.aus")
    chart = world.client.get(f"/patients/{world.patient}")
    assert chart.status_code == 200 and f"/patients/{world.patient}/portal-link" in chart.text


def test_a_new_link_does_not_end_an_open_session(world: World) -> None:
    client = world.client
    open_as_patient(client, world.patient)
    patient_cookie = client.cookies.get("ketaflow_patient")
    issue_link(client, world.patient)
    client.cookies.set("ketaflow_patient", patient_cookie or "")
    assert client.get("/me").status_code == 200


# ---- who reaches what ----------------------------------------------------------------------


def test_a_patient_reaches_only_their_own_page(world: World) -> None:
    client = world.client
    other = open_as_patient(client, world.other)
    assert (
        client.post("/api/me/questions", json={"text": "Other patient's question"}, headers=other).status_code
        == 200
    )
    client.cookies.clear()
    mine = open_as_patient(client, world.patient)
    assert (
        client.post("/api/me/questions", json={"text": "Can I drive home?"}, headers=mine).status_code == 200
    )
    texts = [q["text"] for q in client.get("/api/me/questions").json()]
    assert texts == ["Can I drive home?"]
    assert "Other patient's question" not in client.get("/me").text
    # No staff page or staff API is open to a patient session.
    assert client.get(f"/patients/{world.other}", follow_redirects=False).headers["location"] == "/login"
    assert client.get(f"/api/patients/{world.other}").status_code == 401
    assert client.get(f"/api/patients/{world.patient}").status_code == 401
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/clinics").status_code == 401
    assert client.get(f"/patients/{world.patient}/portal-link", follow_redirects=False).status_code == 303
    assert client.post(f"/api/patients/{world.patient}/portal-link", headers=mine).status_code == 401


def test_staff_cannot_open_the_patient_page(world: World) -> None:
    client = world.client
    sign_in(client, "psychiatrist1.aus")
    page = client.get("/me")
    assert page.status_code == 401 and "Open the link your clinic sent you" in page.text
    assert "Your page needs your clinic" in page.text and "psychiatrist1" not in page.text
    assert client.get("/api/me/session").status_code == 401
    assert client.get("/api/me/questions").status_code == 401


def test_signing_out_ends_the_patient_session(world: World) -> None:
    client = world.client
    open_as_patient(client, world.patient)
    home = client.get("/me")
    out = client.post("/me/sign-out", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/me/signed-out"
    assert client.get("/me/signed-out").status_code == 200
    assert client.get("/me").status_code == 401
    assert len(audits(world.engine, world.patient, "patient.sign_out")) == 1


# ---- the page ------------------------------------------------------------------------------


def test_the_page_shows_the_next_appointment_in_clinic_time_with_the_address(world: World) -> None:
    client = world.client
    open_as_patient(client, world.patient)
    page = client.get("/me").text
    assert "Thursday 11 February 2027 at 10:00" in page and "CST" in page
    assert "Blue Heron Austin" in page
    data = client.get("/api/me/home").json()
    assert data["appointments"][0]["local_time"] == "2027-02-11T10:00:00-06:00"
    assert data["clinic"]["address"] and data["first_visit"] is True
    assert [d["instrument"] for d in data["due"]] == ["phq9", "gad7", "cssrs_screen"]
    assert all(d["due"] for d in data["due"])
    # Every preparation statement carries its source or says it is the clinic's own practice.
    assert page.count("Source:") >= 6 and "Partly your clinic's own practice." in page
    assert page.count("Your clinic's own practice (no published source).") == 2


def test_a_question_must_have_1_to_2000_characters_and_nothing_is_kept_otherwise(world: World) -> None:
    client = world.client
    open_as_patient(client, world.patient)
    csrf = csrf_of(client.get("/me").text)
    empty = client.post("/me/questions", data={"csrf": csrf, "text": "   "})
    assert empty.status_code == 400 and "Write your question before sending it." in empty.text
    long_text = "x" * 2001
    too_long = client.post("/me/questions", data={"csrf": csrf, "text": long_text})
    assert too_long.status_code == 400 and "2000 characters (this one has 2001)" in too_long.text
    assert long_text in too_long.text  # what was typed is kept
    assert questions_of(world.engine, world.patient) == 0
    assert client.post("/me/questions", data={"text": "no csrf"}).status_code == 403
    ok = client.post(
        "/me/questions", data={"csrf": csrf, "text": " Will I feel strange? "}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert "Will I feel strange?" in client.get("/me").text
    exactly = client.post("/me/questions", data={"csrf": csrf, "text": "y" * 2000}, follow_redirects=False)
    assert exactly.status_code == 303
    assert questions_of(world.engine, world.patient) == 2
    (added, _) = audits(world.engine, world.patient, "patient_question.add")
    assert added.actor_label == "patient"


# ---- PHQ-9 -----------------------------------------------------------------------------------


def _form(csrf: str, answers: list[int | None]) -> dict[str, str]:
    data = {"csrf": csrf}
    data.update({f"q{i}": str(a) for i, a in enumerate(answers, start=1) if a is not None})
    return data


def test_phq9_form_shows_the_published_items(world: World) -> None:
    open_as_patient(world.client, world.patient)
    page = world.client.get("/me/questionnaires/phq9")
    assert page.status_code == 200
    assert "Little interest or pleasure in doing things" in page.text
    assert "Thoughts that you would be better off dead, or of hurting yourself in some way" in page.text
    assert page.text.count('type="radio"') == 36 and "More than half the days" in page.text
    assert world.client.get("/me/questionnaires/madrs").status_code == 404


def test_phq9_with_missing_items_saves_nothing_and_names_them(world: World) -> None:
    client = world.client
    open_as_patient(client, world.patient)
    csrf = csrf_of(client.get("/me/questionnaires/phq9").text)
    r = client.post("/me/questionnaires/phq9", data=_form(csrf, [1, 2, None, 3, None, 0, 2, 1, 0]))
    assert r.status_code == 400
    assert "PHQ-9 items 3 and 5 are unanswered" in r.text
    assert (
        "Answer question 3." in r.text
        and "Answer question 5." in r.text
        and "Answer question 4." not in r.text
    )
    assert 'name="q4" value="3"\n      checked' in r.text or re.search(
        r'name="q4" value="3"\s+checked', r.text
    )
    bad = client.post("/me/questionnaires/phq9", data=_form(csrf, [1, 2, 0, 3, 7, 0, 2, 1, 0]))
    assert bad.status_code == 400 and "PHQ-9 item 5 must be 0 to 3; got 7." in bad.text
    assert responses_of(world.engine, world.patient) == []


def test_phq9_is_scored_as_by_hand_and_kept_as_the_patients_answer(world: World) -> None:
    client = world.client
    open_as_patient(client, world.patient)
    csrf = csrf_of(client.get("/me/questionnaires/phq9").text)
    # By hand: 1+2+0+3+1+0+2+1+0 = 10, "moderate" (Kroenke 2001: 10-14); item 9 is 0, no alert.
    answers = [1, 2, 0, 3, 1, 0, 2, 1, 0]
    r = client.post("/me/questionnaires/phq9", data=_form(csrf, answers))
    assert (
        r.status_code == 200
        and "Your total is 10 out of 27" in r.text
        and "988" not in r.text.split("</nav>")[1]
    )
    (resp,) = responses_of(world.engine, world.patient)
    assert resp.instrument == Instrument.PHQ9 and resp.total == 10 and resp.answers == answers
    assert resp.respondent == Respondent.PATIENT and resp.session_id is None and resp.recorded_by_id is None
    assert resp.for_date == date(2027, 2, 10)  # 10:00 in Austin
    assert not audits(world.engine, world.patient, "questionnaire.suicide_risk_alert")
    (submitted,) = audits(world.engine, world.patient, "questionnaire.submit")
    assert submitted.actor_label == "patient" and submitted.details["severity"] == "moderate"
    due = {d["instrument"]: d["due"] for d in client.get("/api/me/home").json()["due"]}
    assert due == {"phq9": False, "gad7": True, "cssrs_screen": True}
    world.clock.now = T0 + timedelta(days=8)
    assert client.get("/api/me/session").status_code == 401  # the 12-hour session has ended
    open_as_patient(client, world.patient)
    assert {d["instrument"]: d["due"] for d in client.get("/api/me/home").json()["due"]}["phq9"] is True


def test_phq9_item_9_above_0_shows_the_crisis_line_and_alerts_staff(world: World) -> None:
    client = world.client
    open_as_patient(client, world.patient)
    csrf = csrf_of(client.get("/me/questionnaires/phq9").text)
    r = client.post("/me/questionnaires/phq9", data=_form(csrf, [0, 0, 0, 0, 0, 0, 0, 0, 2]))
    assert r.status_code == 200
    assert "call or text 988" in r.text and "the clinic will contact you" in r.text
    assert "Your care team has been alerted" in r.text
    (alert,) = audits(world.engine, world.patient, "questionnaire.suicide_risk_alert")
    assert alert.actor_label == "patient" and alert.details["item"] == 9
    assert "same-day suicide-risk review" in alert.details["message"]
    (resp,) = responses_of(world.engine, world.patient)
    assert resp.total == 2 and alert.entity_id == resp.id


def test_gad7_from_home(world: World) -> None:
    client = world.client
    headers = open_as_patient(client, world.patient)
    page = client.get("/me/questionnaires/gad7")
    assert page.status_code == 200 and "Feeling nervous, anxious, or on edge" in page.text
    assert page.text.count('type="radio"') == 28
    r = client.post("/api/me/questionnaires/gad7", json={"answers": [3, 3, 2, 2, 1, 1, 0]}, headers=headers)
    assert r.status_code == 200 and r.json()["total"] == 12 and r.json()["severity"] == "moderate"
    assert r.json()["suicide_risk"] is False and r.json()["crisis"] is None


def test_cssrs_screener_from_home_with_its_own_answers_and_skip_rule(world: World) -> None:
    client = world.client
    headers = open_as_patient(client, world.patient)
    page = client.get("/me/questionnaires/cssrs_screen")
    assert page.status_code == 200 and "Have you actually had any thoughts of killing yourself?" in page.text
    assert "leave questions 3, 4 and 5" in page.text and "Posner" in page.text
    # Questions 1-5 answer No/Yes, question 6 three ways: 5 x 2 + 3 radio buttons.
    assert page.text.count('type="radio"') == 13 and "Yes, in the past 3 months" in page.text
    form = client.get("/api/me/questionnaires/cssrs_screen").json()
    assert [len(i["answers"]) for i in form["items"]] == [2, 2, 2, 2, 2, 3]
    # Question 2 "No": questions 3-5 may be left (the screener's skip rule); all "No" is negative.
    csrf = csrf_of(page.text)
    r = client.post("/me/questionnaires/cssrs_screen", data=_form(csrf, [0, 0, None, None, None, 0]))
    assert r.status_code == 200 and "Thank you" in r.text and "out of" not in r.text
    (resp,) = responses_of(world.engine, world.patient)
    assert resp.instrument == Instrument.CSSRS_SCREEN and resp.total == 0
    assert resp.answers == [0, 0, None, None, None, 0]  # kept as answered: 3-5 were not asked
    assert not audits(world.engine, world.patient, "questionnaire.suicide_risk_alert")
    # Question 2 "Yes" and question 3 left: refused, nothing kept.
    bad = client.post(
        "/api/me/questionnaires/cssrs_screen", json={"answers": [0, 1, None, 0, 0, 0]}, headers=headers
    )
    assert bad.status_code == 400 and "item 3 is unanswered" in bad.json()["error"]
    assert len(responses_of(world.engine, world.patient)) == 1


# ---- the staff side and the link's single use under concurrency ------------------------------


def _staff(db: Session, login: str) -> auth.CurrentUser:
    signed = auth.sign_in(db, f"{login}@demo.ketaflow.org", DEMO_PASSWORD, ip_address=None, user_agent=None)
    who = auth.current_user(db, signed.token)
    assert who is not None
    return who


def test_staff_read_the_patients_questions_and_home_alerts(world: World) -> None:
    client = world.client
    headers = open_as_patient(client, world.patient)
    client.post("/api/me/questions", json={"text": "Will it make me sleepy?"}, headers=headers)
    client.post("/api/me/questionnaires/phq9", json={"answers": [2, 2, 1, 1, 1, 1, 1, 1, 1]}, headers=headers)
    client.post("/api/me/questionnaires/gad7", json={"answers": [1, 1, 1, 1, 1, 1, 1]}, headers=headers)
    with Session(world.engine) as db:
        reports = patient_reports(db, _staff(db, "psychiatrist1.aus"), world.patient)
        assert [q.text for q in reports.questions] == ["Will it make me sleepy?"]
        assert {a.instrument for a in reports.home_answers} == {"phq9", "gad7"}
        (flagged,) = reports.alerts
        assert (
            flagged.instrument == "phq9" and flagged.total == 11 and flagged.alerts[0].kind == "suicide_risk"
        )
        with pytest.raises(Forbidden):
            patient_reports(db, _staff(db, "nurse1.den"), world.patient)
        assert patient_reports(db, _staff(db, "nurse1.aus"), world.other).questions == []
    assert audits(world.engine, world.patient, "patient_reports.read")
    with world.engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


def test_two_simultaneous_uses_of_one_link_open_one_session(world: World) -> None:
    token = issue_link(world.client, world.patient).rsplit("/", 1)[1]
    sessions = make_sessionmaker(world.engine)
    barrier = threading.Barrier(4)

    def use() -> str:
        barrier.wait()
        with sessions() as db:
            try:
                patient_access.redeem_link(db, token, T0, date_of_birth=date(1980, 5, 17))
                return "opened"
            except patient_access.LinkRefused as exc:
                return "refused" if exc.gone else "invalid"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(lambda _: use(), range(4)))
    assert outcomes == ["opened", "refused", "refused", "refused"]
    with Session(world.engine) as db:
        opened = db.scalar(
            select(func.count())
            .select_from(m.PatientSession)
            .where(m.PatientSession.patient_id == world.patient)
        )
        assert opened == 1


def test_every_statement_on_the_patient_page_has_a_source() -> None:
    content = portal_content()
    assert len(content.preparation) >= 8
    for s in content.preparation:
        assert s.heading and s.text and s.source.strip(), s
        if "no published source" in s.source:
            assert s.clinic_specific, f"{s.heading}: unsourced statements must be marked clinic-specific"
    us, elsewhere = content.crisis("US"), content.crisis("CA")
    assert "988" in us.text and "988" in us.source and "988" not in elsewhere.text


def test_the_thank_you_page_is_the_patients_own(world: World) -> None:
    client = world.client
    open_as_patient(client, world.patient)
    csrf = csrf_of(client.get("/me/questionnaires/phq9").text)
    r = client.post("/me/questionnaires/phq9", data=_form(csrf, [0] * 9), follow_redirects=False)
    assert r.status_code == 303
    sent = r.headers["location"]
    assert re.fullmatch(r"/me/questionnaires/phq9/sent/[0-9a-f-]{36}", sent)
    assert "Your total is 0 out of 27" in client.get(sent).text
    assert len(responses_of(world.engine, world.patient)) == 1  # reloading does not resend
    client.cookies.clear()
    open_as_patient(client, world.other)
    assert client.get(sent).status_code == 404
    assert client.get(f"/me/questionnaires/phq9/sent/{uuid.uuid4()}").status_code == 404


def test_the_staff_link_page_shows_what_the_patient_sent_with_the_item_9_alert_first(world: World) -> None:
    client = world.client
    headers = open_as_patient(client, world.patient)
    client.post("/api/me/questions", json={"text": "Is <b>music</b> allowed?"}, headers=headers)
    client.post("/api/me/questionnaires/phq9", json={"answers": [1, 1, 1, 1, 1, 1, 1, 1, 1]}, headers=headers)
    sign_in(client, "psychiatrist1.aus")
    page = client.get(f"/patients/{world.patient}/portal-link")
    assert page.status_code == 200
    assert "What the patient sent from their page" in page.text
    assert "same-day suicide-risk review by the psychiatrist" in page.text
    assert "Is &lt;b&gt;music&lt;/b&gt; allowed?" in page.text  # escaped, never markup
    assert page.text.index("suicide-risk review") < page.text.index("Give the patient a link")


# ---- the link is for the patient only (issue 11 item 8) -------------------------------------
# The finding: a front-desk user issued a patient's link, opened it in their own browser and then
# read the patient's questions and answered a PHQ-9 as the patient (the audit said "patient").


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def test_opening_a_link_asks_for_the_patients_date_of_birth(world: World) -> None:
    client, path = world.client, _path(issue_link(world.client, world.patient))
    look = client.get(path)
    assert look.status_code == 200 and "date of birth" in look.text and 'name="date_of_birth"' in look.text
    missing = client.post(path, follow_redirects=False)
    assert missing.status_code == 400 and "date of birth" in missing.text
    wrong = client.post(path, data={"date_of_birth": "1980-05-18"}, follow_redirects=False)
    assert wrong.status_code == 400 and "does not match" in unescape(wrong.text)
    assert client.get("/me").status_code == 401
    ok = client.post(path, data={"date_of_birth": BIRTH}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/me"
    (wrong_audit,) = audits(world.engine, world.patient, "patient_link.wrong_birth_date")
    assert wrong_audit.details["issued_by"].startswith("frontdesk1.aus")


def test_five_wrong_dates_spend_the_link(world: World) -> None:
    client, path = world.client, _path(issue_link(world.client, world.patient))
    statuses = [
        client.post(path, data={"date_of_birth": f"1990-01-{day:02d}"}, follow_redirects=False).status_code
        for day in range(1, 6)
    ]
    assert statuses == [400, 400, 400, 400, 410]
    late = client.post(path, data={"date_of_birth": BIRTH}, follow_redirects=False)
    assert late.status_code == 410 and client.get("/me").status_code == 401


def test_a_browser_signed_in_as_staff_cannot_open_a_patient_link(world: World) -> None:
    client = world.client
    sign_in(client, "frontdesk1.aus")
    form = client.get(f"/patients/{world.patient}/portal-link")
    made = client.post(f"/patients/{world.patient}/portal-link", data={"csrf": csrf_of(form.text)})
    found = re.search(r"(/p/[A-Za-z0-9_\-]+)", made.text)
    assert made.status_code == 200 and found
    refused = client.post(found.group(1), data={"date_of_birth": BIRTH}, follow_redirects=False)
    assert refused.status_code == 403 and "for the patient" in refused.text
    assert client.get("/me").status_code == 401
    (event,) = audits(world.engine, world.patient, "patient_link.refused_staff_browser")
    assert event.actor_label.startswith("frontdesk1.aus")
    # Not spent: the patient opens it on their own device.
    client.cookies.clear()
    assert (
        client.post(found.group(1), data={"date_of_birth": BIRTH}, follow_redirects=False).status_code == 303
    )


def test_the_handout_is_for_the_patient_and_the_staff_page_never_shows_a_token(world: World) -> None:
    client = world.client
    sign_in(client, "nurse1.aus")
    form = client.get(f"/patients/{world.patient}/portal-link")
    made = client.post(f"/patients/{world.patient}/portal-link", data={"csrf": csrf_of(form.text)})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    assert "Print" in made.text and "<svg" in made.text and "your date of birth" in made.text
    token = re.search(r"/p/([A-Za-z0-9_\-]+)", made.text)
    assert token
    later = client.get(f"/patients/{world.patient}/portal-link")
    assert token.group(1) not in later.text and "/p/" not in later.text


def test_every_opening_is_audited_with_who_issued_the_link(world: World) -> None:
    path = _path(issue_link(world.client, world.patient, "nurse1.aus"))
    assert world.client.post(path, data={"date_of_birth": BIRTH}, follow_redirects=False).status_code == 303
    (signed,) = audits(world.engine, world.patient, "patient.sign_in")
    assert signed.actor_label == "patient" and signed.details["issued_by"].startswith("nurse1.aus")
    # The patient's page says who gave the link it was opened with (a link they never used shows).
    assert "with the link" in world.client.get("/me").text
    with Session(world.engine) as db:
        issuer = db.scalar(select(m.StaffUser).where(m.StaffUser.email == "nurse1.aus@demo.ketaflow.org"))
        assert issuer is not None and signed.details["issued_by_id"] == str(issuer.id)
    (issued,) = audits(world.engine, world.patient, "patient_link.issue")
    assert issued.actor_user_id == issuer.id
