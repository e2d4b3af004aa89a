"""In the browser: signing in, the chair board, and a nurse of another clinic refused."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import select

from ketaflow.store import models as m
from ketaflow.store.engine import make_engine
from tests.e2e.conftest import LiveServer, sign_in


def _an_austin_patient(live: LiveServer) -> str:
    engine = make_engine(live.database_url)
    with engine.connect() as conn:
        clinic_id = conn.scalar(select(m.Clinic.id).where(m.Clinic.code == "aus"))
        patient_id = conn.scalar(select(m.Patient.id).where(m.Patient.clinic_id == clinic_id).limit(1))
    engine.dispose()
    return str(patient_id)


def test_a_wrong_password_is_refused_in_plain_words(
    live_server: LiveServer, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", "nurse1.aus@demo.ketaflow.org")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    expect(page.get_by_text("do not match")).to_be_visible()
    assert "Traceback" not in page.content()


def test_a_nurse_sees_her_board_and_cannot_open_another_clinics_chart(
    live_server: LiveServer, new_page: Callable[[], Page]
) -> None:
    patient = _an_austin_patient(live_server)

    austin = new_page()
    sign_in(austin, live_server.url, "nurse1.aus")
    austin.goto(f"{live_server.url}/clinics/aus/board")
    expect(austin.get_by_role("heading", level=1)).to_contain_text("chairs today")
    austin.goto(f"{live_server.url}/patients/{patient}")
    expect(austin.get_by_role("heading", level=1)).not_to_contain_text("There")

    denver = new_page()
    sign_in(denver, live_server.url, "nurse1.den")
    response = denver.goto(f"{live_server.url}/patients/{patient}")
    assert response is not None and response.status == 403
    expect(denver.get_by_text("clinic you are not a member of")).to_be_visible()
    response = denver.goto(f"{live_server.url}/clinics/aus/board")
    assert response is not None and response.status == 403
    expect(denver.get_by_text("clinic you are not a member of")).to_be_visible()
    assert "Traceback" not in denver.content()
