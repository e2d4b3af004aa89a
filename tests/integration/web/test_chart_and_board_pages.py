"""The chart and board pages render, and each view's audit is committed before the page is sent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, event, func, select

from ketaflow.store import models as m
from ketaflow.web.app import create_app
from tests.integration.web.sign_in_support import post_login


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(demo_engine)) as c:
        yield c
    with demo_engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


def sign_in(client: TestClient, email: str) -> None:
    response = post_login(client, email)
    assert response.status_code == 303, response.text


def audits(engine: Engine, action: str, entity_id: object) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(m.AuditEvent)
                .where(m.AuditEvent.action == action, m.AuditEvent.entity_id == entity_id)
            )
            or 0
        )


def an_austin_patient(engine: Engine) -> m.Patient:
    with engine.connect() as conn:
        row = conn.execute(
            select(m.Patient.id, m.Patient.family_name)
            .join(m.Clinic, m.Clinic.id == m.Patient.clinic_id)
            .where(m.Clinic.code == "aus")
            .order_by(m.Patient.mrn)
            .limit(1)
        ).one()
    return m.Patient(id=row.id, family_name=row.family_name)


def test_the_chart_renders_and_every_view_is_audited(client: TestClient, demo_engine: Engine) -> None:
    patient = an_austin_patient(demo_engine)
    sign_in(client, "nurse1.aus@demo.ketaflow.org")
    before = audits(demo_engine, "patient.read", patient.id)
    for n in range(1, 4):
        page = client.get(f"/patients/{patient.id}")
        assert page.status_code == 200 and patient.family_name in page.text
        assert "Traceback" not in page.text
        # Committed before the response: visible at once from another connection.
        assert audits(demo_engine, "patient.read", patient.id) == before + n
    api = client.get(f"/api/patients/{patient.id}")
    assert api.status_code == 200 and api.json()["id"] == str(patient.id)
    assert audits(demo_engine, "patient.read", patient.id) == before + 4


def test_the_board_renders_and_every_view_is_audited(client: TestClient, demo_engine: Engine) -> None:
    with demo_engine.connect() as conn:
        clinic_id = conn.scalar(select(m.Clinic.id).where(m.Clinic.code == "aus"))
    sign_in(client, "frontdesk1.aus@demo.ketaflow.org")
    before = audits(demo_engine, "board.view", clinic_id)
    page = client.get("/clinics/aus/board")
    assert page.status_code == 200 and "Traceback" not in page.text
    assert audits(demo_engine, "board.view", clinic_id) == before + 1
    assert client.get("/api/clinics/aus/board").json()["clinic"] == "aus"
    assert audits(demo_engine, "board.view", clinic_id) == before + 2


def test_a_nurse_of_another_clinic_sees_neither_and_nothing_is_audited(
    client: TestClient, demo_engine: Engine
) -> None:
    patient = an_austin_patient(demo_engine)
    sign_in(client, "nurse1.den@demo.ketaflow.org")
    before = audits(demo_engine, "patient.read", patient.id)
    assert client.get(f"/api/patients/{patient.id}").status_code == 403
    assert client.get("/api/clinics/aus/board").status_code == 403
    assert audits(demo_engine, "patient.read", patient.id) == before


def test_a_home_phq9_with_thoughts_of_self_harm_is_flagged_on_the_chart(
    client: TestClient, demo_engine: Engine
) -> None:
    from datetime import UTC, date, datetime

    from ketaflow.vocabulary import Instrument, Respondent

    with demo_engine.begin() as conn:
        row = conn.execute(
            select(m.Patient.id, m.Patient.clinic_id)
            .join(m.Clinic, m.Clinic.id == m.Patient.clinic_id)
            .where(m.Clinic.code == "aus")
            .order_by(m.Patient.mrn.desc())
            .limit(1)
        ).one()
    from sqlalchemy.orm import Session

    with Session(demo_engine) as db:
        db.add(
            m.QuestionnaireResponse(
                clinic_id=row.clinic_id,
                patient_id=row.id,
                instrument=Instrument.PHQ9,
                answers=[1, 1, 1, 1, 1, 1, 1, 1, 2],  # item 9 (self-harm) answered 2
                total=10,
                respondent=Respondent.PATIENT,
                answered_at=datetime(2031, 8, 4, 15, 0, tzinfo=UTC),
                for_date=date(2031, 8, 4),
            )
        )
        db.commit()
    sign_in(client, "nurse1.aus@demo.ketaflow.org")
    page = client.get(f"/patients/{row.id}")
    assert page.status_code == 200 and 'class="card alert-card"' in page.text
    assert "PHQ9 answered at home 04 Aug 2031" in page.text
    api = client.get(f"/api/patients/{row.id}").json()
    assert api["home_alerts"][0]["instrument"] == "phq9" and api["home_alerts"][0]["total"] == 10
    assert api["home_alerts"][0]["alerts"], "item 9 above 0 raises the scale's alert"


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements run on `engine` inside the block."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def table_read(statement: str) -> str:
    """What a statement reads (the first table after FROM), or its first words."""
    return statement.split("FROM ", 1)[1].split()[0] if "FROM " in statement else statement[:20]


def test_the_chart_reads_a_fixed_number_of_statements_whatever_the_history(
    client: TestClient, demo_engine: Engine
) -> None:
    """The chart's statements are built once with their values bound per page (services/
    patients.py): a patient with a long series and one with no infusion at all (the empty list
    of sessions bound to every `IN`) are read with the same statements, and the infusions are
    read once (the corrections history takes their series numbers from the chart)."""
    with demo_engine.connect() as conn:
        counts = conn.execute(
            select(m.Patient.id, func.count(m.InfusionSession.id).label("n"))
            .join(m.Clinic, m.Clinic.id == m.Patient.clinic_id)
            .outerjoin(m.InfusionSession, m.InfusionSession.patient_id == m.Patient.id)
            .where(m.Clinic.code == "aus")
            .group_by(m.Patient.id)
            .order_by(func.count(m.InfusionSession.id), m.Patient.id)
        ).all()
    fewest, most = counts[0], counts[-1]
    assert fewest.n == 0 and most.n >= 5, (fewest.n, most.n)
    sign_in(client, "nurse1.aus@demo.ketaflow.org")
    client.get(f"/api/patients/{fewest.id}")  # any once-a-minute session touch happens here
    read: dict[int, list[str]] = {}
    for patient in (fewest, most):
        with statements(demo_engine) as seen:
            api = client.get(f"/api/patients/{patient.id}")
        assert api.status_code == 200 and len(api.json()["infusions"]) == patient.n
        read[patient.n] = seen
    # The same statements in the same order; only an IN list's rendering follows its length.
    assert [table_read(s) for s in read[fewest.n]] == [table_read(s) for s in read[most.n]]
    assert len(read[most.n]) == len(read[fewest.n])
    assert sum("FROM infusion_sessions" in s and "JOIN" not in s for s in read[most.n]) == 1
