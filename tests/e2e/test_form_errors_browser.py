"""In the browser: a form sent with mistakes comes back at the form, with the focus on the first
field at fault, every message tied to its field (aria-invalid, aria-describedby) and all the
form's mistakes shown at once (issue 19, items 5 and 10)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from ketaflow.store.engine import make_engine
from tests.e2e.conftest import LiveServer, sign_in
from tests.integration.web.test_chairside import ChairWorld

START = datetime(2027, 3, 11, 16, 0, tzinfo=UTC)  # 10:00 in Austin, a day no other browser test uses


@pytest.fixture
def session_url(live_server: LiveServer) -> Iterator[str]:
    engine = make_engine(live_server.database_url)
    sid = ChairWorld(engine).session(at=START, started=True, chair=3)
    engine.dispose()
    live_server.clock.set(START + timedelta(minutes=12))
    yield f"{live_server.url}/sessions/{sid}"


def send_without_browser_checks(page: Page, form: Locator, button: Locator) -> None:
    """Submit with the browser's own checks off (required, type=email), as an older browser or a
    script would, so the server's answer is what is tested."""
    form.evaluate("f => { f.noValidate = true; }")
    with page.expect_navigation():
        button.click()
    assert "Traceback" not in page.content()


def described_by(page: Page, field: Locator) -> str:
    """The text of the element(s) a field's aria-describedby names."""
    ids = (field.get_attribute("aria-describedby") or "").split()
    assert ids, "the field names no description"
    return " ".join(page.locator(f"#{i}").inner_text() for i in ids)


def in_view(page: Page, field: Locator) -> bool:
    box = field.bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None
    return 0 <= box["y"] and box["y"] + box["height"] <= size["height"]


def focused_name(page: Page) -> str | None:
    return page.evaluate("document.activeElement && document.activeElement.getAttribute('name')")


def test_a_bad_blood_pressure_comes_back_at_the_field_with_the_focus_on_it(
    live_server: LiveServer, new_page: Callable[[], Page], session_url: str
) -> None:
    page = new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, live_server.url, "nurse1.aus")
    page.goto(session_url)
    form = page.locator("#vitals-form")
    form.locator("input[name=bp]").fill("abc")
    form.locator("input[name=heart_rate]").fill("fast")
    form.locator("input[name=spo2]").fill("97")
    send_without_browser_checks(page, form, page.get_by_role("button", name="Chart vitals"))

    bp = page.locator("#vitals-form input[name=bp]")
    hr = page.locator("#vitals-form input[name=heart_rate]")
    spo2 = page.locator("#vitals-form input[name=spo2]")
    expect(bp).to_be_focused()
    assert in_view(page, bp)
    expect(bp).to_have_attribute("aria-invalid", "true")
    assert "Blood pressure must be written systolic/diastolic" in described_by(page, bp)
    # Both mistakes at once, each beside its own field; the good value is kept, not marked.
    expect(hr).to_have_attribute("aria-invalid", "true")
    assert "Heart rate must be a number; got 'fast'." in described_by(page, hr)
    expect(spo2).to_have_value("97")
    assert spo2.get_attribute("aria-invalid") is None
    # Nothing was charted.
    expect(page.locator("#vitals tbody tr")).to_have_count(0)


def test_a_side_effect_with_a_bad_onset_comes_back_at_its_form(
    live_server: LiveServer, new_page: Callable[[], Page], session_url: str
) -> None:
    page = new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, live_server.url, "nurse1.aus")
    page.goto(session_url)
    form = page.locator("#side-effects form").first
    form.locator("select[name=severity]").select_option("moderate")
    send_without_browser_checks(page, form, form.get_by_role("button", name="Chart side effect"))
    kind = page.locator("#side-effects form select[name=kind]").first
    expect(kind).to_be_focused()
    expect(kind).to_have_attribute("aria-invalid", "true")
    assert in_view(page, kind)
    assert "side effect" in described_by(page, kind).lower()
    expect(page.locator("#side-effects form select[name=severity]").first).to_have_value("moderate")


def test_registration_shows_every_mistake_at_once_and_focuses_the_first(
    live_server: LiveServer, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, live_server.url, "frontdesk1.aus")
    page.goto(f"{live_server.url}/clinics/aus/patients/new")
    # The date of birth is a native date field: no hint that contradicts what the browser shows.
    dob = page.locator("input[name=date_of_birth]")
    expect(dob).to_have_attribute("type", "date")
    expect(page.locator("form.fd-form")).not_to_contain_text("YYYY-MM-DD")

    page.fill("input[name=given_name]", "Maren")
    page.fill("input[name=family_name]", "Oduya")
    page.fill("input[name=date_of_birth]", "1988-04-02")
    page.select_option("select[name=sex]", "female")
    page.fill("input[name=phone]", "12")
    page.fill("input[name=email]", "not-an-address")
    page.fill("input[name=weight_kg]", "heavy")
    form = page.locator("form.fd-form")
    send_without_browser_checks(page, form, page.get_by_role("button", name="Register"))

    phone = page.locator("input[name=phone]")
    email = page.locator("input[name=email]")
    weight = page.locator("input[name=weight_kg]")
    for field, text in (
        (phone, "The phone number must have"),
        (email, "is not valid"),
        (weight, "Weight (kg) must be a number; got 'heavy'."),
    ):
        expect(field).to_have_attribute("aria-invalid", "true")
        assert text in described_by(page, field)
    expect(phone).to_be_focused()
    assert in_view(page, phone)
    expect(page.locator("input[name=given_name]")).to_have_value("Maren")
    assert "/patients/new" in page.url  # nothing registered
