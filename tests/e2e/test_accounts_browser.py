"""In the browser (issue 11): a director makes a staff account, the person sets their password from the
one-time link, sets up a second factor by QR code and signs in with a code; a password change signs
the other browser out; a reset link; switching the account off and on."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pyotp
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, sign_in
from tests.e2e.test_accessibility import Auditor, axe_source  # noqa: F401 (axe_source: a fixture)

FIRST = "harbour lantern 31 kites"
SECOND = "granite meadow 88 swifts"
THIRD = "quiet orchard 52 herons"


def _log_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url or "/login/code" in url)


def _set_password(page: Page, link: str, password: str) -> None:
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Set your password")
    page.fill("input[name=new_password]", password)
    page.fill("input[name=confirm_password]", password)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Password set")


def _code(secret: str, live: LiveServer, steps_ahead: int = 0) -> str:
    # The app runs on the test's movable clock; codes are those of the app's "now".
    return pyotp.TOTP(secret).at(live.clock.now.timestamp() + 30 * steps_ahead)


def test_account_management_password_and_second_factor_in_the_browser(
    live_server: LiveServer,
    new_page: Callable[[], Page],
    axe_source: str,  # noqa: F811
) -> None:
    base = live_server.url
    # The two pages only this journey reaches (the accessibility walk lists them as checked here).
    axe = Auditor(axe_source)
    director = new_page()
    sign_in(director, base, "director1.aus")
    director.get_by_role("link", name="Staff").click()
    expect(director.get_by_role("heading", level=1)).to_contain_text("Staff accounts")
    email = f"e2e-{uuid.uuid4().hex[:8]}@demo.ketaflow.org"
    director.fill("input[name=full_name]", "Robin Browser")
    director.fill("input[name=email]", email)
    director.select_option("select[name=clinic]", "aus")
    director.check("input[name=roles][value=nurse]")
    director.get_by_role("button", name="Create the account").click()
    expect(director.get_by_text("shown only this once")).to_be_visible()
    link = director.locator("input.reset-url").input_value()
    assert "/reset/" in link
    expect(director.locator("tr", has_text=email)).to_contain_text("active")

    # The person sets their own password from the link, and signs in.
    person = new_page(bypass_csp=True)
    person.goto(link)
    axe.audit(person, "/reset/{token}")
    _set_password(person, link, FIRST)
    person.goto(link)
    expect(person.get_by_text("used already")).to_be_visible()
    _log_in(person, base, email, FIRST)
    expect(person).to_have_url(f"{base}/clinics")

    # Second factor: QR code on the enrolment page, a first code switches it on, recovery codes once.
    person.get_by_role("link", name="Robin Browser").click()
    person.get_by_role("link", name="Set up a second factor").click()
    expect(person.locator("figure.qr svg")).to_be_visible()
    secret = person.get_by_test_id("mfa-secret").inner_text()
    person.fill("input[name=code]", "000000" if _code(secret, live_server) != "000000" else "111111")
    person.get_by_role("button", name="Switch the second factor on").click()
    expect(person.get_by_text("does not match")).to_be_visible()
    person.fill("input[name=code]", _code(secret, live_server))
    person.get_by_role("button", name="Switch the second factor on").click()
    expect(person.get_by_role("heading", level=1)).to_contain_text("Your recovery codes")
    assert person.get_by_test_id("recovery-codes").locator("li").count() == 10

    # Signing in now takes a code as well.
    again = new_page(bypass_csp=True)
    _log_in(again, base, email, FIRST)
    expect(again).to_have_url(f"{base}/login/code")
    axe.audit(again, "/login/code")
    axe.assert_clean()
    again.goto(f"{base}/clinics")
    expect(again).to_have_url(f"{base}/login")  # a half-done sign-in opens nothing
    again.goto(f"{base}/login/code")
    again.fill("input[name=code]", _code(secret, live_server, steps_ahead=1))
    again.get_by_role("button", name="Continue").click()
    expect(again).to_have_url(f"{base}/clinics")

    # A password change keeps this browser signed in and signs the other one out.
    person.goto(f"{base}/account")
    person.fill("input[name=current_password]", FIRST)
    person.fill("input[name=new_password]", SECOND)
    person.fill("input[name=confirm_password]", SECOND)
    person.get_by_role("button", name="Change password").click()
    expect(person.get_by_text("Your password is changed")).to_be_visible()
    again.goto(f"{base}/clinics")
    expect(again).to_have_url(f"{base}/login")

    # A reset link from the director (it works with the second factor still on).
    director.goto(f"{base}/staff")
    director.get_by_role("link", name="Robin Browser").click()
    director.get_by_role("button", name="Make a password reset link").click()
    reset = director.locator("input.reset-url").input_value()
    _set_password(new_page(), reset, THIRD)
    person.goto(f"{base}/account")
    expect(person).to_have_url(f"{base}/login")  # the reset ended every session

    # Switched off: the account's sessions end and it cannot sign in; switched on, it can.
    fresh = new_page()
    _log_in(fresh, base, email, THIRD)
    fresh.fill("input[name=code]", _code(secret, live_server, steps_ahead=-1))
    fresh.get_by_role("button", name="Continue").click()
    expect(fresh.get_by_text("not right")).to_be_visible()  # an older step than the last one used
    director.goto(f"{base}/staff")
    director.get_by_role("link", name="Robin Browser").click()
    director.get_by_role("button", name="Switch the account off").click()
    expect(director.get_by_text("switched off").first).to_be_visible()
    refused = new_page()
    refused.goto(f"{base}/login")
    refused.fill("input[name=email]", email)
    refused.fill("input[name=password]", THIRD)
    refused.click("button[type=submit]")
    expect(refused.get_by_text("do not match")).to_be_visible()
    director.get_by_role("button", name="Switch the account back on").click()
    _log_in(refused, base, email, THIRD)
    expect(refused).to_have_url(f"{base}/login/code")
    assert "Traceback" not in director.content() + person.content() + refused.content()


def test_the_front_desk_has_no_staff_pages(live_server: LiveServer, new_page: Callable[[], Page]) -> None:
    desk = new_page()
    sign_in(desk, live_server.url, "frontdesk1.aus")
    expect(desk.get_by_role("link", name="Staff")).to_have_count(0)
    response = desk.goto(f"{live_server.url}/staff")
    assert response is not None and response.status == 403
