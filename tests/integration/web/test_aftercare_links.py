"""Issue 19 items 9 and 10: the after-care sheet is reachable by every role that may print it, no
link on it leads to a page the reader may not open, and it does not contradict how the patient
goes home (the discharge rule accepts transport arranged with the clinic in place of a driver)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete

from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.test_discharge import (
    READY,
    Clock,
    at_observation_end,
    make_visit,
    sign_in,
)

PRINTERS = ["frontdesk1.aus", "nurse1.aus", "psychiatrist1.aus"]


@pytest.fixture
def app(demo_engine: Engine) -> Iterator[tuple[TestClient, Clock]]:
    application = create_app(demo_engine)
    frozen = Clock()
    application.dependency_overrides[clock] = frozen
    with TestClient(application) as client:
        yield client, frozen
    with demo_engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))


def _links(html: str) -> list[str]:
    """Every in-app page an <a> on the page leads to (not tel:, not in-page anchors)."""
    found = re.findall(r'<a\b[^>]*\bhref="([^"]+)"', html)
    return sorted({h.split("#")[0] for h in found if h.startswith("/") and not h.startswith("/static/")})


@pytest.mark.parametrize("who", PRINTERS)
def test_each_role_that_may_print_the_sheet_reaches_it_and_leaves_it_without_a_403(
    app: tuple[TestClient, Clock], demo_engine: Engine, who: str
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    at_observation_end(frozen, visit)
    nurse = sign_in(client, "nurse1.aus")
    done = client.post(f"/api/sessions/{visit.session_id}/discharge", json=READY, headers=nurse)
    assert done.status_code == 200, done.text
    sheet_url = f"/sessions/{visit.session_id}/aftercare"

    sign_in(client, who)
    chart = client.get(f"/patients/{visit.patient_id}")
    assert chart.status_code == 200
    assert sheet_url in _links(chart.text), "the patient's page links to the after-care sheet"
    sheet = client.get(sheet_url)
    assert sheet.status_code == 200
    links = _links(sheet.text)
    assert f"/patients/{visit.patient_id}" in links  # a way back every printer may take
    for href in links:
        r = client.get(href, follow_redirects=False)
        assert r.status_code not in (403, 404) and r.status_code < 500, (who, href, r.status_code)


def test_the_sheet_does_not_forbid_the_transport_it_names(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine, driver=None, transport="rideshare booked by clinic")
    at_observation_end(frozen, visit)
    nurse = sign_in(client, "nurse1.aus")
    body = {**READY, "driver": "", "transport": "rideshare booked by clinic"}
    assert (
        client.post(f"/api/sessions/{visit.session_id}/discharge", json=body, headers=nurse).status_code
        == 200
    )
    sheet = client.get(f"/sessions/{visit.session_id}/aftercare").text
    assert "Transport: rideshare booked by clinic" in sheet
    assert "taxi alone" not in sheet  # "...do not leave by taxi alone" right under a booked rideshare
    assert "transport arranged with the clinic" in sheet
