"""In chromium: /api/docs loads nothing from another host, and pages break no rule of the CSP (issue 11)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Page

from tests.e2e.conftest import LiveServer, sign_in


def watch(page: Page) -> tuple[list[str], list[str]]:
    """Every address the page asks for, and every console error (CSP violations land there)."""
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return requested, errors


def test_the_api_docs_render_from_this_server_alone(
    live_server: LiveServer, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    requested, errors = watch(page)
    page.goto(f"{live_server.url}/api/docs")
    page.wait_for_selector(".opblock-tag", timeout=30_000)  # Swagger UI drew the API's groups
    assert page.locator(".opblock").count() > 10
    here = urlsplit(live_server.url).netloc
    elsewhere = [
        u for u in requested if urlsplit(u).scheme in {"http", "https"} and urlsplit(u).netloc != here
    ]
    assert not elsewhere, elsewhere
    # The browser's own ask for /favicon.ico (there is none) is the one 404 it may log.
    assert not [e for e in errors if "status of 404" not in e], errors


def test_pages_break_no_rule_of_the_content_security_policy(
    live_server: LiveServer, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    requested, errors = watch(page)
    page.goto(f"{live_server.url}/login")
    sign_in(page, live_server.url, "nurse1.aus")
    for path in ("/", "/clinics", "/clinics/aus/board", "/clinics/aus/week", "/clinics/aus/patients"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    page.click("a[href^='/patients/']") if page.locator("a[href^='/patients/']").count() else None
    page.wait_for_load_state("networkidle")
    here = urlsplit(live_server.url).netloc
    assert all(urlsplit(u).netloc == here for u in requested if urlsplit(u).scheme in {"http", "https"})
    violations = [e for e in errors if "Content Security Policy" in e or "Refused to" in e]
    assert not violations, violations
