"""The outcome pages render the service's numbers, draw their charts and are reachable by links."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select

from ketaflow.analytics import dissociation_response_association, proportion
from ketaflow.errors import InvalidInput
from ketaflow.services.outcomes import (
    DissociationReport,
    access,
    dissociation_report,
    outcomes_dashboard,
    patient_trajectory,
)
from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.outcome_charts import percent
from tests.integration.web.sign_in_support import post_login


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(demo_engine)) as c:
        yield c
    with demo_engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


def sign_in(client: TestClient, who: str) -> None:
    client.cookies.clear()
    email = who if "@" in who else f"{who}@demo.ketaflow.org"
    r = post_login(client, email)
    assert r.status_code == 303, r.text


def clinic_ids(engine: Engine, *codes: str) -> list[uuid.UUID]:
    with engine.connect() as conn:
        rows = conn.execute(select(m.Clinic.id, m.Clinic.code).order_by(m.Clinic.code)).all()
    return [r[0] for r in rows if not codes or r[1] in codes]


def figure(html: str, element_id: str) -> str:
    """The text of the summary figure with this id (tags stripped, spaces collapsed)."""
    found = re.search(rf'<dd id="{element_id}">(.*?)</dd>', html, re.S)
    assert found, element_id
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def a_patient_with_scores(engine: Engine, code: str = "aus") -> uuid.UUID:
    with engine.connect() as conn:
        pid = conn.scalar(
            select(m.QuestionnaireResponse.patient_id)
            .join(m.Patient, m.Patient.id == m.QuestionnaireResponse.patient_id)
            .join(m.Clinic, m.Clinic.id == m.Patient.clinic_id)
            .where(m.Clinic.code == code, m.QuestionnaireResponse.instrument == "phq9")
            .group_by(m.QuestionnaireResponse.patient_id)
            .having(func.count() >= 3)
            .order_by(m.QuestionnaireResponse.patient_id)
            .limit(1)
        )
    assert pid is not None
    return pid


def test_the_network_page_shows_the_services_numbers_and_a_forest_chart(
    client: TestClient, demo_engine: Engine
) -> None:
    sign_in(client, "admin@demo.ketaflow.org")
    html = client.get("/outcomes").text
    expected = outcomes_dashboard(demo_engine, clinic_ids=clinic_ids(demo_engine), label="All clinics")
    t = expected.total
    assert "Outcomes: All clinics" in html
    assert figure(html, "patients-treated") == f"{t.patients_treated:,}"
    assert figure(html, "infusions") == f"{t.infusions:,}"
    est, low, high = t.response.estimate, t.response.ci_low, t.response.ci_high
    assert est is not None and low is not None and high is not None
    response = figure(html, "response")
    assert response.startswith(f"{est * 100:.0f}%")
    assert f"95% CI {low * 100:.0f}–{high * 100:.0f}%" in response
    assert f"{t.response.successes} of {t.response.n} courses" in response
    assert figure(html, "dropout") == percent(t.dropout)
    assert figure(html, "adverse") == percent(t.adverse_events)
    assert figure(html, "bp-pauses") == percent(t.blood_pressure_pauses)
    # Forest plots: response, remission, drop-out; each clinic and the pooled row with its interval.
    assert html.count('<svg class="chart forest"') == 3
    for unit in expected.clinics:
        assert unit.name in html and percent(unit.response) in html
    assert f"{t.name} (pooled)" in html and "chi-square" in html
    assert 'href="/outcomes/dissociation"' in html and 'href="/clinics/aus/outcomes"' in html
    assert "Traceback" not in html


def test_a_clinic_page_shows_that_clinic_and_links_back_to_the_comparison(
    client: TestClient, demo_engine: Engine
) -> None:
    sign_in(client, "director1.aus")
    r = client.get("/clinics/aus/outcomes")
    assert r.status_code == 200
    u = outcomes_dashboard(demo_engine, clinic="aus").total
    assert figure(r.text, "patients-treated") == f"{u.patients_treated:,}"
    assert figure(r.text, "infusions") == f"{u.infusions:,}"
    assert figure(r.text, "dropout") == percent(u.dropout)
    assert 'href="/outcomes"' in r.text and 'href="/clinics/aus/board"' in r.text  # both navs
    assert r.text.count('<svg class="chart forest"') == 3


def test_a_director_sees_only_their_own_clinics_on_the_network_page(client: TestClient) -> None:
    sign_in(client, "director1.aus")
    html = client.get("/outcomes").text
    assert 'href="/clinics/aus/outcomes"' in html
    assert 'href="/clinics/den/outcomes"' not in html


def test_the_outcome_pages_are_reachable_from_the_clinic_and_patient_navigation(
    client: TestClient, demo_engine: Engine
) -> None:
    sign_in(client, "admin@demo.ketaflow.org")
    pid = a_patient_with_scores(demo_engine)
    assert 'href="/clinics/aus/outcomes"' in client.get("/clinics/aus/board").text
    assert f'href="/patients/{pid}/outcomes"' in client.get(f"/patients/{pid}").text


def test_the_dissociation_page_states_n_the_interval_and_the_caveat(
    client: TestClient, demo_engine: Engine
) -> None:
    # The shared test network is built from a fixed seed and day: 32 of its patients completed
    # induction with CADSS at the first infusions, enough for the association (10 are needed;
    # with fewer the service raises and this test fails), so the real page is checked against
    # the real service here, with no way out; "too few" has its own test below.
    sign_in(client, "admin@demo.ketaflow.org")
    r = client.get("/outcomes/dissociation")
    assert r.status_code == 200
    report = dissociation_report(demo_engine, clinic_ids=clinic_ids(demo_engine))
    a = report.association
    assert a.patients >= 10
    assert figure(r.text, "n-patients").startswith(f"{a.patients} ")
    assert f"{a.odds_ratio_per_sd_cadss:.2f}" in figure(r.text, "odds-ratio")
    assert f"95% CI {a.odds_ratio_ci_low:.2f} to {a.odds_ratio_ci_high:.2f}" in r.text
    assert report.statement in r.text
    assert a.caveat in r.text and "observational" in r.text.lower()


def test_the_dissociation_page_states_a_computed_association_with_n_ci_and_caveat(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the small shared network holds, render a report fitted on known data."""
    rng = np.random.default_rng(5)
    cadss = rng.normal(20, 8, 80)
    baseline = rng.integers(12, 27, 80)
    response = (rng.random(80) < 1 / (1 + np.exp(-(cadss - 20) / 8))).astype(int)
    a = dissociation_response_association(cadss, baseline, response)
    report = DissociationReport("Your clinics", a, proportion(int(response.sum()), 80), "Plain words.", None)
    monkeypatch.setattr(access, "dissociation_report", lambda *_a, **_k: report)
    sign_in(client, "psychiatrist1.aus")
    html = client.get("/outcomes/dissociation").text
    assert figure(html, "n-patients") == f"{a.patients} {a.responders} responders" and a.patients == 80
    assert figure(html, "odds-ratio").startswith(f"{a.odds_ratio_per_sd_cadss:.2f}")
    assert f"95% CI {a.odds_ratio_ci_low:.2f} to {a.odds_ratio_ci_high:.2f}" in html
    assert "Plain words." in html and a.caveat in html
    assert client.get("/api/outcomes/dissociation").json()["report"]["association"]["patients"] == 80


def test_the_dissociation_page_says_plainly_when_there_are_too_few_patients(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def too_few(*_args: object, **_kwargs: object) -> None:
        raise InvalidInput("Only 3 patients completed induction with CADSS; too few to estimate it.")

    monkeypatch.setattr(access, "dissociation_report", too_few)
    sign_in(client, "director1.aus")
    r = client.get("/outcomes/dissociation")
    assert r.status_code == 200 and "Only 3 patients completed induction" in r.text
    api = client.get("/api/outcomes/dissociation").json()
    assert api["report"] is None and api["too_few"].startswith("Only 3 patients")


def test_the_patient_page_charts_each_questionnaire_with_the_infusions_marked(
    client: TestClient, demo_engine: Engine
) -> None:
    pid = a_patient_with_scores(demo_engine)
    sign_in(client, "nurse1.aus")
    with demo_engine.connect() as conn:
        before = conn.scalar(
            select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.patient_id == pid)
        )
    r = client.get(f"/patients/{pid}/outcomes")
    assert r.status_code == 200
    tr = patient_trajectory(demo_engine, patient_id=pid)
    for inst in tr.instruments:
        assert f'id="chart-{inst.instrument}"' in r.text
        row = re.search(rf'<tr id="status-{inst.instrument}">(.*?)</tr>', r.text, re.S)
        assert row is not None
        cells = [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td.*?</td>", row[1])]
        assert cells[1] == str(inst.points[0].total) and cells[2] == str(inst.points[-1].total)
        expected = "not defined" if inst.response is None else ("yes" if inst.response else "no")
        assert cells[4] == expected
    phq9 = next(i for i in tr.instruments if i.instrument == "phq9")
    chart = re.search(r'id="chart-phq9">(.*?)</section>', r.text, re.S)
    assert chart is not None
    assert chart.group(1).count('<line class="infusion"') == len(tr.infusions)
    assert chart.group(1).count("<circle") == len(phq9.points)
    assert "remission cut-off" in chart.group(1)
    with demo_engine.connect() as conn:
        audits = conn.execute(
            select(m.AuditEvent.action, m.AuditEvent.details).where(m.AuditEvent.patient_id == pid)
        ).all()
    assert len(audits) == (before or 0) + 1
    assert ("patient.read", {"page": "outcomes"}) in [(a, d) for a, d in audits]


def test_the_pages_answer_bad_addresses_with_a_sentence_not_a_trace(client: TestClient) -> None:
    sign_in(client, "admin@demo.ketaflow.org")
    for url, status in (
        ("/clinics/nowhere/outcomes", 404),
        (f"/patients/{uuid.uuid4()}/outcomes", 404),
        ("/patients/not-an-id/outcomes", 422),
    ):
        r = client.get(url)
        assert r.status_code == status, url
        assert "That did not work" in r.text and "Traceback" not in r.text
    sign_in(client, "nurse1.aus")
    r = client.get("/outcomes")
    assert r.status_code == 403 and "do not allow you to see outcomes" in r.text


def test_a_stranger_is_sent_to_sign_in(client: TestClient) -> None:
    client.cookies.clear()
    for url in ("/outcomes", "/clinics/aus/outcomes", "/outcomes/dissociation"):
        assert client.get(url, follow_redirects=False).headers["location"] == "/login"


def test_each_look_at_the_outcomes_is_audited(client: TestClient, demo_engine: Engine) -> None:
    def count(action: str) -> int:
        with demo_engine.connect() as conn:
            return conn.scalar(select(func.count()).where(m.AuditEvent.action == action)) or 0

    before = count("outcomes.read"), count("outcomes.dissociation.read")
    sign_in(client, "director1.aus")
    assert client.get("/clinics/aus/outcomes").status_code == 200
    assert client.get("/api/outcomes").status_code == 200
    assert client.get("/outcomes/dissociation").status_code == 200
    assert (count("outcomes.read"), count("outcomes.dissociation.read")) == (before[0] + 2, before[1] + 1)
