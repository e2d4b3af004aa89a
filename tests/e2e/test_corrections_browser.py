"""In the browser, on SQLite and PostgreSQL: a nurse charts a mistyped blood pressure, corrects it with a
reason, sees the reading classified again on the infusion page, and sees the correction's history
(who, when, why, old -> new) on the entry's page and on the patient's chart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.store.engine import make_engine
from tests.e2e.conftest import LiveServer, sign_in
from tests.integration.web.correction_support import CorrectionWorld

START = datetime(2027, 3, 3, 16, 0, tzinfo=UTC)  # 10:00 in Austin, a day no other browser test uses


@pytest.mark.parametrize(
    "server",
    ["live_server", pytest.param("live_server_postgres", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgres"],
)
def test_a_nurse_corrects_a_mistyped_vital_sign_and_sees_the_history(
    server: str, request: pytest.FixtureRequest, new_page: Callable[[], Page]
) -> None:
    live: LiveServer = request.getfixturevalue(server)
    engine = make_engine(live.database_url)
    world = CorrectionWorld(engine)
    sid = world.session(START, ordered=True, started=True)
    with Session(engine) as db:
        nurse = db.get(m.StaffUser, world.nurse_id)
        assert nurse is not None
        nurse_name = nurse.full_name
    live.clock.set(START + timedelta(minutes=12))

    page = new_page()
    sign_in(page, live.url, "nurse1.aus")
    page.goto(f"{live.url}/sessions/{sid}")
    form = page.locator("#vitals-form")
    form.locator("input[name=bp]").fill("204/122")
    form.locator("input[name=heart_rate]").fill("72")
    form.locator("input[name=spo2]").fill("98")
    form.locator("select[name=sedation]").select_option("5")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    row = page.locator("#vitals tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("204/122")
    expect(row.locator(".level")).to_have_text("stop")

    live.clock.set(START + timedelta(minutes=14))
    with page.expect_navigation():
        row.get_by_role("link", name="Correct").click()
    expect(page.locator("h1")).to_contain_text("Vital signs of 03 Mar 2027 10:12")
    expect(page.locator("#history")).to_contain_text("Not corrected")
    bp = page.locator("#correct input[name=bp]")
    expect(bp).to_have_value("204/122")
    bp.fill("128/82")
    page.locator("#correct input[name=reason]").fill("typed 204/122 for 128/82")
    with page.expect_navigation():
        page.get_by_role("button", name="Save correction").click()

    # Back on the infusion: the reading as corrected, classified again, marked corrected.
    assert page.url.endswith(f"/sessions/{sid}#vitals")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("128/82")
    expect(row).not_to_contain_text("204/122")
    expect(row.locator(".level")).to_have_text("normal")

    with page.expect_navigation():
        row.get_by_role("link", name="(corrected)").click()
    history = page.locator("#history")
    expect(history).to_contain_text(nurse_name)
    expect(history).to_contain_text("BP: 204/122 → 128/82")
    expect(history).to_contain_text("typed 204/122 for 128/82")

    page.goto(f"{live.url}/patients/{world.patient_id}")
    chart = page.locator("#corrections")
    expect(chart).to_contain_text("Vital signs of 03 Mar 2027 10:12 (infusion 1)")
    expect(chart).to_contain_text("BP: 204/122 → 128/82")
    expect(chart).to_contain_text(nurse_name)
    assert "Traceback" not in page.content()
    engine.dispose()
