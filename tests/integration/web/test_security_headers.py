"""Security headers on every answer (issue 11): CSP, framing, sniffing, referrer, HSTS, no-store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from ketaflow.store import models as m
from ketaflow.web.app import create_app
from tests.integration.web.roles import Caller, callers

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
TEMPLATES = Path(__file__).resolve().parents[3] / "src" / "ketaflow" / "web" / "templates"


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


def a_patient(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(
            conn.scalar(select(m.Patient.id).where(m.Patient.mrn.like("KFAUS%")).order_by(m.Patient.mrn))
        )


def assert_security_headers(r, *, https: bool = False, static: bool = False) -> None:  # type: ignore[no-untyped-def]
    csp = r.headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("default-src") == ["'self'"], csp
    assert directives.get("script-src") == ["'self'"], csp  # no inline script, no eval, no other host
    assert directives.get("style-src") == ["'self'"], csp
    assert directives.get("object-src") == ["'none'"] and directives.get("base-uri") == ["'none'"], csp
    assert directives.get("form-action") == ["'self'"] and directives.get("frame-ancestors") == ["'none'"], (
        csp
    )
    assert r.headers.get("x-frame-options") == "DENY"
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("referrer-policy") in {"same-origin", "no-referrer"}
    assert ("strict-transport-security" in r.headers) is https, r.headers
    if https:
        assert int(re.search(r"max-age=(\d+)", r.headers["strict-transport-security"])[1]) >= 15_552_000  # type: ignore[index]
    if not static:
        assert r.headers.get("cache-control") == "no-store", (r.url, r.headers.get("cache-control"))


def test_pages_and_patient_data_carry_the_headers_and_are_never_cached(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    nurse = who["nurse"].client
    pid = a_patient(demo_engine)
    for path in (
        "/",
        "/clinics/aus/board",
        f"/patients/{pid}",
        f"/api/patients/{pid}",
        "/api/me",
        "/nowhere",
    ):
        assert_security_headers(nurse.get(path))


def test_refusals_sign_in_and_errors_carry_the_headers(who: dict[str, Caller]) -> None:
    anonymous = who["anonymous"].client
    for r in (
        anonymous.get("/login"),
        anonymous.get("/api/me"),
        anonymous.get("/clinics/aus/board", follow_redirects=False),
        anonymous.get("/health"),
        anonymous.post("/api/clinics/aus/patients", json={}),
        anonymous.get("/clinics/%00/board"),
    ):
        assert_security_headers(r)


def test_a_server_error_page_carries_the_headers(engine: Engine) -> None:
    app = create_app(engine)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 500
    assert_security_headers(r)


def test_static_files_carry_the_headers_and_may_be_cached(who: dict[str, Caller]) -> None:
    r = who["anonymous"].client.get("/static/ketaflow.css")
    assert r.status_code == 200
    assert_security_headers(r, static=True)
    assert "no-store" not in r.headers.get("cache-control", "")


def test_hsts_only_over_https_and_never_from_a_header_anyone_can_send(engine: Engine) -> None:
    app = create_app(engine)
    with TestClient(app, base_url="https://ketaflow.test") as tls:
        assert_security_headers(tls.get("/login"), https=True)
    with TestClient(app) as plain:
        assert_security_headers(plain.get("/login"))
        # Sent by the client itself (no trusted proxy in between): still plain http.
        assert_security_headers(plain.get("/login", headers={"X-Forwarded-Proto": "https"}))


def test_hsts_behind_a_trusted_proxy_that_ended_tls(engine: Engine) -> None:
    """KETAFLOW_TRUSTED_PROXIES: the proxy's X-Forwarded-Proto counts, from that proxy only."""
    app = create_app(engine, trusted_proxies=["10.1.2.3"])
    with TestClient(app, client=("10.1.2.3", 40000)) as proxy:
        assert_security_headers(proxy.get("/login", headers={"X-Forwarded-Proto": "https"}), https=True)
        assert_security_headers(proxy.get("/login"))
    with TestClient(app, client=("10.9.9.9", 40000)) as stranger:
        assert_security_headers(stranger.get("/login", headers={"X-Forwarded-Proto": "https"}))


def test_the_api_docs_load_nothing_from_another_host(engine: Engine) -> None:
    with TestClient(create_app(engine)) as client:
        r = client.get("/api/docs")
        assert r.status_code == 200
        assert_security_headers(r)
        sources = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources), sources
        for s in sources:
            assert client.get(s).status_code == 200, s
        assert "<script>" not in r.text and " on" not in re.sub(r'"[^"]*"', "", r.text)
        for old in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            assert client.get(old).status_code == 404, old


INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\son[a-z]+\s*=|\sstyle\s*=|javascript:", re.IGNORECASE
)


def test_no_template_carries_inline_script_handlers_or_styles() -> None:
    found = [
        f"{t.name}: {m.group(0)}"
        for t in sorted(TEMPLATES.glob("*.html"))
        for m in INLINE.finditer(t.read_text(encoding="utf-8"))
    ]
    assert not found, found
