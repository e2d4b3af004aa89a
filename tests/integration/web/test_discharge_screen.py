"""The discharge check's mental status, repeat suicide-risk screen and sedation level, on both engines.

A blocked discharge saves no discharge and lists every unmet item; suicidal ideation found at
discharge is kept in the chart (discharge_screens) and flags it the way a home PHQ-9 item-9
answer does, for the psychiatrist, who alone can assess and discharge the patient home.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ketaflow.clinical import default_rules
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

RULES = default_rules().discharge
ALERT = "Suicidal ideation present at discharge: do not discharge; the psychiatrist must assess now."
ASSESSMENT = (
    "Passive wish to be asleep, as before every infusion; no intent or plan. Safety plan reviewed "
    "with her partner, who stays tonight; clinic calls tomorrow at 10."
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


def screens(engine: Engine, visit: Visit) -> list[m.DischargeScreen]:
    with Session(engine) as db:
        return list(
            db.scalars(select(m.DischargeScreen).where(m.DischargeScreen.session_id == visit.session_id))
        )


def discharge_of(engine: Engine, visit: Visit) -> m.Discharge | None:
    with Session(engine) as db:
        return db.scalar(select(m.Discharge).where(m.Discharge.session_id == visit.session_id))


def alerts_audited(engine: Engine, visit: Visit) -> list[dict[str, Any]]:
    with Session(engine) as db:
        return [
            a.details
            for a in db.scalars(
                select(m.AuditEvent).where(
                    m.AuditEvent.patient_id == visit.patient_id,
                    m.AuditEvent.action == "discharge.suicide_risk_alert",
                )
            )
        ]


def ready_visit(engine: Engine, frozen: Clock, **kw: Any) -> Visit:
    visit = make_visit(engine, **kw)
    at_observation_end(frozen, visit)
    return visit


def test_suicidal_ideation_at_discharge_is_refused_kept_in_the_chart_and_flags_it(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen)
    nurse = sign_in(client, "nurse1.aus")
    url = f"/api/sessions/{visit.session_id}/discharge"
    r = client.post(url, json={**READY, "suicidal_ideation": "present"}, headers=nurse)
    assert r.status_code == 400, r.text
    body = r.json()
    assert [(u["criterion"], u["message"]) for u in body["unmet"]] == [("suicidal_ideation", ALERT)]
    assert ALERT in body["error"] and "C-SSRS" in body["unmet"][0]["source"]
    assert body["chart_flagged"] is True
    # No discharge: no row, the appointment untouched; the finding itself is charted.
    assert counts(demo_engine, visit) == (0, "in_chair", 1)
    (screen,) = screens(demo_engine, visit)
    assert (screen.suicidal_ideation, screen.mental_status) == ("present", "baseline")
    assert screen.screened_at == frozen.now and screen.recorded_by_id is not None
    (audited,) = alerts_audited(demo_engine, visit)
    assert audited["message"] == ALERT and audited["session_id"] == str(visit.session_id)

    # The psychiatrist sees the flag on the chart (page and API), as for a home item-9 answer.
    sign_in(client, "psychiatrist1.aus")
    chart = client.get(f"/api/patients/{visit.patient_id}").json()
    (flag,) = chart["discharge_alerts"]
    assert flag["message"] == ALERT and flag["session_id"] == str(visit.session_id)
    assert flag["screened_at"] == frozen.now.isoformat() and flag["discharged_at"] is None
    page = client.get(f"/patients/{visit.patient_id}").text
    assert ALERT in page and 'class="card alert-card" role="alert"' in page
    # The front desk's chart withholds it with the rest of the clinical record.
    sign_in(client, "frontdesk1.aus")
    assert "discharge_alerts" not in client.get(f"/api/patients/{visit.patient_id}").json()
    assert ALERT not in client.get(f"/patients/{visit.patient_id}").text


def test_a_preview_with_ideation_present_charts_nothing(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen)
    sign_in(client, "nurse1.aus")
    url = f"/api/sessions/{visit.session_id}/discharge"
    preview = client.get(url, params={**READY, "suicidal_ideation": "present"}).json()
    crit = {c["criterion"]: c for c in preview["criteria"]}
    assert preview["ready"] is False and crit["suicidal_ideation"]["message"] == ALERT
    assert screens(demo_engine, visit) == [] and alerts_audited(demo_engine, visit) == []


def test_only_the_psychiatrist_assesses_and_discharges_with_ideation_present(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen)
    url = f"/api/sessions/{visit.session_id}/discharge"
    assessed = {**READY, "suicidal_ideation": "present", "suicide_risk_assessment": ASSESSMENT}

    nurse = sign_in(client, "nurse1.aus")
    r = client.post(url, json=assessed, headers=nurse)
    assert r.status_code == 400 and r.json()["field"] == "suicide_risk_assessment"
    assert "Only a psychiatrist" in r.json()["error"]
    assert counts(demo_engine, visit) == (0, "in_chair", 1) and screens(demo_engine, visit) == []

    psych = sign_in(client, "psychiatrist1.aus")
    preview = client.get(url, params=assessed).json()
    crit = {c["criterion"]: c for c in preview["criteria"]}
    assert preview["ready"] is True and crit["suicidal_ideation"]["met"] is True
    assert ASSESSMENT in crit["suicidal_ideation"]["message"]
    done = client.post(url, json=assessed, headers=psych)
    assert done.status_code == 200, done.text
    assert done.json()["suicidal_ideation"] == "present" and done.json()["chart_flagged"] is True
    row = discharge_of(demo_engine, visit)
    assert row is not None
    assert (row.mental_status, row.suicidal_ideation, row.suicide_risk_assessment) == (
        "baseline",
        "present",
        ASSESSMENT,
    )
    assert row.criteria["criteria"]["suicidal_ideation"]["met"] is True
    assert [s.suicidal_ideation for s in screens(demo_engine, visit)] == ["present"]
    (flag,) = client.get(f"/api/patients/{visit.patient_id}").json()["discharge_alerts"]
    assert flag["discharged_at"] == frozen.now.isoformat() and flag["assessment"] == ASSESSMENT


def test_an_assessment_without_ideation_present_is_refused_beside_its_field(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen)
    psych = sign_in(client, "psychiatrist1.aus")
    r = client.post(
        f"/api/sessions/{visit.session_id}/discharge",
        json={**READY, "suicide_risk_assessment": ASSESSMENT},
        headers=psych,
    )
    assert r.status_code == 400 and r.json()["field"] == "suicide_risk_assessment"
    assert counts(demo_engine, visit) == (0, "in_chair", 1)


def test_an_altered_mental_status_is_refused_with_what_to_do_and_nothing_saved(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen)
    nurse = sign_in(client, "nurse1.aus")
    r = client.post(
        f"/api/sessions/{visit.session_id}/discharge",
        json={**READY, "mental_status": "altered"},
        headers=nurse,
    )
    assert r.status_code == 400
    assert [(u["criterion"], u["message"]) for u in r.json()["unmet"]] == [
        ("mental_status", RULES.mental_status.unmet)
    ]
    assert r.json()["chart_flagged"] is False
    assert counts(demo_engine, visit) == (0, "in_chair", 1) and screens(demo_engine, visit) == []


def test_an_unasked_screen_and_no_sedation_level_are_each_listed_and_nothing_saved(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen, sedation=None)
    nurse = sign_in(client, "nurse1.aus")
    body = {k: v for k, v in READY.items() if k not in {"mental_status", "suicidal_ideation"}}
    r = client.post(f"/api/sessions/{visit.session_id}/discharge", json=body, headers=nurse)
    assert r.status_code == 400
    assert [(u["criterion"], u["message"]) for u in r.json()["unmet"]] == [
        ("sedation", "Chart the sedation level (MOAA/S) with the vitals after the stop before discharge."),
        ("mental_status", RULES.mental_status.missing),
        ("suicidal_ideation", RULES.suicidal_ideation.missing),
    ]
    assert counts(demo_engine, visit) == (0, "in_chair", 1) and screens(demo_engine, visit) == []


def test_a_lethargic_patient_is_not_discharged(app: tuple[TestClient, Clock], demo_engine: Engine) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen, sedation=4)
    nurse = sign_in(client, "nurse1.aus")
    r = client.post(f"/api/sessions/{visit.session_id}/discharge", json=READY, headers=nurse)
    assert r.status_code == 400
    (item,) = r.json()["unmet"]
    assert item["criterion"] == "sedation"
    assert "MOAA/S 4 (Lethargic response to name spoken in normal tone)" in item["message"]
    assert "Anesthesiology 2002" in item["source"]
    assert counts(demo_engine, visit) == (0, "in_chair", 1)


def test_the_discharge_charts_what_the_check_found(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen)
    nurse = sign_in(client, "nurse1.aus")
    url = f"/api/sessions/{visit.session_id}/discharge"
    r = client.post(
        url, json={**READY, "mental_status": " Baseline", "suicidal_ideation": "NONE"}, headers=nurse
    )
    assert r.status_code == 200, r.text
    assert (r.json()["mental_status"], r.json()["suicidal_ideation"]) == ("baseline", "none")
    assert r.json()["chart_flagged"] is False
    row = discharge_of(demo_engine, visit)
    assert row is not None
    assert (row.mental_status, row.suicidal_ideation, row.suicide_risk_assessment) == (
        "baseline",
        "none",
        None,
    )
    for key in ("sedation", "mental_status", "suicidal_ideation"):
        assert row.criteria["criteria"][key]["met"] is True, key
    assert screens(demo_engine, visit) == []
    after = client.get(url).json()
    assert after["discharged"]["mental_status"] == "baseline"
    assert after["discharged"]["suicidal_ideation"] == "none"
    assert after["latest_vitals"]["sedation"] == 5


def test_bad_values_are_refused_beside_their_field_and_nothing_saved(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen)
    nurse = sign_in(client, "nurse1.aus")
    url = f"/api/sessions/{visit.session_id}/discharge"
    for field, value, words in (
        ("mental_status", "foggy", "Mental status must be baseline or altered; got 'foggy'."),
        ("suicidal_ideation", "maybe", "Suicidal ideation must be none or present; got 'maybe'."),
    ):
        r = client.post(url, json={**READY, field: value}, headers=nurse)
        assert r.status_code == 400 and r.json() == {"error": words, "field": field}
        preview = client.get(url, params={field: value})
        assert preview.status_code == 400 and preview.json()["field"] == field
    assert counts(demo_engine, visit) == (0, "in_chair", 1) and screens(demo_engine, visit) == []

    # The page: the message beside the field, what was typed kept, nothing saved.
    page_url = f"/sessions/{visit.session_id}/discharge"
    csrf = client.get("/api/me").json()["csrf_token"]
    form = {"csrf": csrf, "score": "10", "walks_with_help": "1", "nausea": "none", "instructions_given": "1"}
    bad = client.post(page_url, data={**form, "mental_status": "foggy", "driver": "Sam Lee, 555-0199"})
    assert bad.status_code == 400 and "Traceback" not in bad.text
    row = bad.text.split('id="criterion-mental_status"', 1)[1].split("</tr>", 1)[0]
    assert "field-error" in row and "Mental status must be baseline or altered" in row
    assert 'value="Sam Lee, 555-0199"' in bad.text
    assert counts(demo_engine, visit) == (0, "in_chair", 1) and screens(demo_engine, visit) == []


def test_the_page_asks_the_screen_and_keeps_a_positive_one(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen)
    sign_in(client, "nurse1.aus")
    url = f"/sessions/{visit.session_id}/discharge"
    text = client.get(url).text
    for question in RULES.suicidal_ideation.questions:
        assert question in text
    assert 'name="mental_status"' in text and 'name="suicidal_ideation"' in text
    assert 'name="suicide_risk_assessment"' not in text  # the psychiatrist's, not the nurse's
    assert "MOAA/S 5" in text  # the latest reading's sedation level, from the chart
    csrf = client.get("/api/me").json()["csrf_token"]
    form = {
        "csrf": csrf,
        "score": "10",
        "walks_with_help": "1",
        "nausea": "none",
        "driver": "Dana Reyes, 555-0100",
        "instructions_given": "1",
        "mental_status": "baseline",
        "suicidal_ideation": "present",
    }
    refused = client.post(url, data=form)
    assert refused.status_code == 400 and ALERT in refused.text
    assert "charted and flagged" in refused.text
    assert counts(demo_engine, visit) == (0, "in_chair", 1)
    assert [s.suicidal_ideation for s in screens(demo_engine, visit)] == ["present"]

    sign_in(client, "psychiatrist1.aus")
    assert 'name="suicide_risk_assessment"' in client.get(url).text
    csrf = client.get("/api/me").json()["csrf_token"]
    done = client.post(
        url, data={**form, "csrf": csrf, "suicide_risk_assessment": ASSESSMENT}, follow_redirects=False
    )
    assert done.status_code == 303
    assert counts(demo_engine, visit) == (1, "completed", 2)
    shown = client.get(url).text
    assert "Discharged" in shown and ASSESSMENT in shown


def test_discharge_screens_are_counted_per_session_only(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    """Two positive screens on one visit are two findings; another visit's chart is not flagged."""
    client, frozen = app
    first = ready_visit(demo_engine, frozen)
    other = make_visit(demo_engine)
    nurse = sign_in(client, "nurse1.aus")
    url = f"/api/sessions/{first.session_id}/discharge"
    for minutes in (0, 15):
        frozen.now += timedelta(minutes=minutes)
        assert (
            client.post(url, json={**READY, "suicidal_ideation": "present"}, headers=nurse).status_code == 400
        )
    assert len(screens(demo_engine, first)) == 2
    with Session(demo_engine) as db:
        n = db.scalar(
            select(func.count())
            .select_from(m.DischargeScreen)
            .where(m.DischargeScreen.session_id == other.session_id)
        )
    assert n == 0
    sign_in(client, "psychiatrist1.aus")
    assert len(client.get(f"/api/patients/{first.patient_id}").json()["discharge_alerts"]) == 2
    assert client.get(f"/api/patients/{other.patient_id}").json()["discharge_alerts"] == []
