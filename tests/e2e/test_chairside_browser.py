"""In the browser: the nurse in the chair. Vitals are classified as they are typed (before charting),
a comfort toggle saves itself, the drug fields show only for a drug, a side effect is charted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from ketaflow.store.engine import make_engine
from tests.e2e.conftest import LiveServer, sign_in
from tests.integration.web.test_chairside import ChairWorld

START = datetime(2027, 3, 9, 16, 0, tzinfo=UTC)  # 10:00 in Austin, a day no other browser test uses


@pytest.fixture
def session_url(live_server: LiveServer) -> Iterator[str]:
    engine = make_engine(live_server.database_url)
    sid = ChairWorld(engine).session(at=START, started=True)
    engine.dispose()
    live_server.clock.set(START + timedelta(minutes=12))
    yield f"{live_server.url}/sessions/{sid}"


def test_typed_vitals_are_classified_before_they_are_charted(
    live_server: LiveServer, new_page: Callable[[], Page], session_url: str
) -> None:
    page = new_page()
    sign_in(page, live_server.url, "nurse1.aus")
    page.goto(session_url)
    check = page.locator("#vitals-check")
    page.fill("#vitals-form input[name=bp]", "128/82")
    expect(check).to_contain_text("Before charting: normal")
    page.fill("#vitals-form input[name=bp]", "204/122")  # issue 13: stop at >= 200/120
    expect(check).to_contain_text("Before charting: stop")
    expect(check).to_contain_text("Systolic blood pressure 204 mmHg is high")
    page.fill("#vitals-form input[name=bp]", "400/20")
    expect(check).to_contain_text("outside the range")
    # Nothing was charted by checking: the table has no rows yet.
    expect(page.locator("#vitals tbody tr")).to_have_count(0)
    assert "Traceback" not in page.content()


def test_comfort_toggles_save_themselves_and_a_side_effect_is_charted(
    live_server: LiveServer, new_page: Callable[[], Page], session_url: str
) -> None:
    page = new_page()
    sign_in(page, live_server.url, "nurse1.aus")
    page.goto(session_url)
    expect(page.locator("#comfort button")).to_be_hidden()  # the toggles save on change
    with page.expect_navigation():
        page.check("#comfort input[name=music]")
    expect(page.locator("#comfort input[name=music]")).to_be_checked()
    expect(page.locator("#comfort")).to_contain_text("Set at 10:12")

    form = page.locator("form[data-intervention]")
    expect(form.locator("input[name=drug_name]")).to_be_visible()
    form.locator("select[name=kind]").select_option("action")
    expect(form.locator("input[name=drug_name]")).to_be_hidden()

    side = page.locator("#side-effects form").first
    side.locator("select[name=kind]").select_option("nausea")
    side.locator("select[name=severity]").select_option("moderate")
    with page.expect_navigation():
        side.locator("button[type=submit]").click()
    expect(page.get_by_text("Side effect: nausea (moderate) since 10:12")).to_be_visible()
