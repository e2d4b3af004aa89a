"""In the browser: the nurse in the chair. Vitals are classified as they are typed (before charting),
a comfort toggle saves itself, the drug fields show only for a drug, a side effect is charted."""

from __future__ import annotations

import re
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
    # The sedation level chosen is checked too: deep sedation stops the infusion, with its action.
    page.fill("#vitals-form input[name=bp]", "128/82")
    page.select_option("#vitals-form select[name=sedation]", "1")
    expect(check).to_contain_text("Before charting: stop")
    expect(check).to_contain_text("Sedation MOAA/S 1 (Responds only after painful trapezius squeeze)")
    expect(check).to_contain_text("open and support the airway")
    page.select_option("#vitals-form select[name=sedation]", "5")
    expect(check).to_contain_text("Before charting: normal")
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


def test_enter_in_the_pause_reason_pauses_and_stop_asks_to_be_confirmed(
    live_server: LiveServer, new_page: Callable[[], Page], session_url: str
) -> None:
    page = new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, live_server.url, "nurse1.aus")
    page.goto(session_url)
    controls = page.locator("#pump button")
    expect(controls).to_have_text(["Pause", "Stop"])  # running: no Start, no Resume
    for i in range(controls.count()):  # every pump control is a 44 px target (WCAG 2.5.5)
        box = controls.nth(i).bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, box
    boxes = [controls.nth(i).bounding_box() for i in range(controls.count())]
    for i, a in enumerate(boxes):  # and at least 8 px apart, so a thumb does not press the other
        for b in boxes[i + 1 :]:
            assert a is not None and b is not None
            dx = max(b["x"] - (a["x"] + a["width"]), a["x"] - (b["x"] + b["width"]), 0)
            dy = max(b["y"] - (a["y"] + a["height"]), a["y"] - (b["y"] + b["height"]), 0)
            assert max(dx, dy) >= 8, (a, b)

    # Enter in the pause reason submits the pause, never another action.
    page.fill("#pump-pause input[name=reason]", "restroom with help")
    with page.expect_navigation():
        page.press("#pump-pause input[name=reason]", "Enter")
    expect(page.locator("p.error")).to_have_count(0)
    expect(page.locator("ul.events")).to_contain_text("pause 10:12")
    expect(page.locator("ul.events")).to_contain_text("restroom with help")
    expect(page.locator("#pump button")).to_have_text(["Resume", "Stop"])

    # Stop is not sent until its box is ticked; the infusion stays paused.
    page.fill("#pump-stop input[name=reason]", "patient asked")
    page.locator("#pump-stop").get_by_role("button", name="Stop", exact=True).click()
    expect(page.locator("#pump button")).to_have_text(["Resume", "Stop"])
    assert "stop" not in page.locator("ul.events").inner_text().split()
    # Enter in the stop reason does not bypass the confirmation either.
    page.press("#pump-stop input[name=reason]", "Enter")
    expect(page.locator("#pump button")).to_have_text(["Resume", "Stop"])
    page.check("#pump-stop input[name=confirm]")
    with page.expect_navigation():
        page.locator("#pump-stop").get_by_role("button", name="Stop", exact=True).click()
    expect(page.locator("#pump button")).to_have_count(0)
    expect(page.locator("ul.events")).to_contain_text("patient asked")


@pytest.mark.parametrize("size", [(1024, 768), (768, 1024)], ids=["desktop", "tablet"])
def test_a_stop_level_reading_and_its_action_are_in_the_first_screen(
    live_server: LiveServer, new_page: Callable[[], Page], session_url: str, size: tuple[int, int]
) -> None:
    page = new_page()
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, live_server.url, "nurse1.aus")
    page.goto(session_url)
    for bp in ("128/82", "204/122"):
        page.fill("#vitals-form input[name=bp]", bp)
        page.fill("#vitals-form input[name=heart_rate]", "80")
        page.fill("#vitals-form input[name=spo2]", "97")
        with page.expect_navigation():
            page.get_by_role("button", name="Chart vitals").click()
    page.evaluate("window.scrollTo(0, 0)")
    first = page.locator("ol.needs li").first
    expect(first).to_contain_text("Vital signs: stop")
    expect(first).to_contain_text("BP 204/122")
    expect(first).to_contain_text("Stop the infusion and call the psychiatrist")
    box = first.bounding_box()
    assert box is not None and box["y"] + box["height"] <= height, (box, size)
    # The vitals entry is right under the band, its BP field also within reach of the first screen.
    bp_box = page.locator("#vitals-form input[name=bp]").bounding_box()
    assert bp_box is not None and bp_box["y"] < 2 * height


def test_the_board_updates_in_place_without_reloading_or_moving_focus(
    live_server: LiveServer, new_page: Callable[[], Page]
) -> None:
    day = START + timedelta(days=1)  # a day of its own: the chair shows this infusion
    engine = make_engine(live_server.database_url)
    sid = ChairWorld(engine).session(at=day, started=True, chair=2)
    engine.dispose()
    live_server.clock.set(day + timedelta(minutes=12))
    session_url = f"{live_server.url}/sessions/{sid}"
    board = new_page()
    sign_in(board, live_server.url, "nurse1.aus")
    board.goto(f"{live_server.url}/clinics/aus/board")
    expect(board.locator("meta[http-equiv=refresh]")).to_have_count(0)
    card = board.locator("section.chair", has=board.locator(f'a[href="/sessions/{sid}"]'))
    card.locator(f'a[href="/sessions/{sid}"]').focus()
    board.evaluate("window.notReloaded = true")

    # Another nurse charts a stop-level reading at the chair.
    chair = new_page()
    sign_in(chair, live_server.url, "nurse1.aus")
    chair.goto(session_url)
    for bp in ("128/82", "204/122"):
        chair.fill("#vitals-form input[name=bp]", bp)
        with chair.expect_navigation():
            chair.get_by_role("button", name="Chart vitals").click()

    board.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # what the 30 s timer does
    expect(board.locator("#triage li").first).to_contain_text("Vital signs: stop")
    expect(card.locator(".vitals")).to_contain_text("BP 204/122")
    expect(card).to_have_class(re.compile("urgent-stop"))
    assert board.evaluate("window.notReloaded") is True
    assert board.evaluate("document.activeElement.getAttribute('href')") == f"/sessions/{sid}"
