"""End-to-end tests in a real browser: Debian's chromium driven by Playwright.

A small demo network is built in a temporary SQLite file and served by uvicorn in a
thread of the test process, so the test can move the app's clock (the `clock`
dependency) forward: a two-hour observation or the days between infusions take no time.
The browser is the system's chromium (`scripts/install-browser` installs it from
Debian); Playwright never downloads one. Without chromium these tests skip with the
reason, except under CI=true, where they must run.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine

from tests.ci_mode import missing

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The demo history runs up to this day; the browser tests happen a month later, on days
# with no demo bookings, at times the tests choose.
DEMO_AS_OF = date(2027, 2, 1)
PASSWORD = "ketaflow-demo"


class MovableClock:
    """The app's clock for these tests: frozen, and moved forward by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        assert when.tzinfo is not None
        self.now = when.astimezone(UTC)


@dataclass
class LiveServer:
    url: str
    clock: MovableClock
    database_url: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(engine: Engine, database_url: str) -> Iterator[LiveServer]:
    """Serve the app on `engine` with uvicorn in a thread, on a movable clock (1 March 2027, 14:00 UTC)."""
    import uvicorn

    from ketaflow.web.app import create_app
    from ketaflow.web.deps import clock

    app = create_app(engine)
    moving = MovableClock(datetime(2027, 3, 1, 14, 0, tzinfo=UTC))
    app.dependency_overrides[clock] = moving
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("The test web server did not start within 30 seconds.")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", moving, database_url)
    server.should_exit = True
    thread.join(timeout=10)


def _demo(engine: Engine) -> None:
    from ketaflow.demo.build import build_network
    from ketaflow.demo.settings import DemoSettings
    from ketaflow.store.migrate import upgrade

    upgrade(engine)
    build_network(engine, DemoSettings(clinics=2, patients=24, seed=5, as_of=DEMO_AS_OF))


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from ketaflow.store.engine import make_engine

    path: Path = tmp_path_factory.mktemp("e2e") / "ketaflow.sqlite"
    database_url = f"sqlite:///{path}"
    engine = make_engine(database_url)
    _demo(engine)
    with _serving(engine, database_url) as live:
        yield live
    engine.dispose()


@pytest.fixture(scope="session")
def live_server_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The same demo network and server on a brand-new PostgreSQL database (dropped afterwards),
    built by the owner and served as the application's own role; skipped without
    KETAFLOW_TEST_POSTGRES_URL, as the other PostgreSQL tests are."""
    from tests.conftest import FreshDatabases

    databases = FreshDatabases("postgres", tmp_path_factory.mktemp("e2e-pg"))
    try:
        owner = databases.new()
        _demo(owner)
        engine = databases.app_engine(owner)  # served as the app's own role, as in production
        with _serving(engine, engine.url.render_as_string(hide_password=False)) as live:
            yield live
    finally:
        databases.drop_all()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        missing("chromium is not installed; run scripts/install-browser (Debian's chromium package).")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Make a page in a fresh browser context (its own cookies); all closed after the test."""
    contexts = []

    def make(*, bypass_csp: bool = False) -> Page:
        # bypass_csp only for a page an accessibility check injects axe into (a script of the
        # test's own, which the app's Content-Security-Policy rightly refuses).
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=bypass_csp)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for c in contexts:
        c.close()


def sign_in(page: Page, base: str, who: str) -> None:
    """Sign in through the login form as `<who>@demo.ketaflow.org`."""
    page.goto(f"{base}/login")
    page.fill("input[name=email]", f"{who}@demo.ketaflow.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
