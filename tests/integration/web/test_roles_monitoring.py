"""Every role against the maintenance-check API: the psychiatrist and the nurse record a check.

Another clinic's staff are refused, anonymous gets 401, a change without the CSRF header is
refused with nothing written, and a bad entry answers 400 with one sentence and saves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from ketaflow.store import models as m
from tests.integration.web.consult_support import count, new_patient
from tests.integration.web.roles import ROLES, Caller, callers, expected

COVERS = {("POST", "/api/patients/{patient_id}/monitoring")}
NOW = datetime(2032, 6, 23, 15, 0, tzinfo=UTC)  # a day no other test uses
RECORDERS = {"psychiatrist", "nurse"}


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


@pytest.mark.parametrize("label", list(ROLES))
def test_recording_a_maintenance_check(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    pid = new_patient(demo_engine, NOW)
    body = {"kind": "bladder_screen", "done_on": "2032-06-20", "result": "no urinary symptoms"}
    r = who[label].client.post(f"/api/patients/{pid}/monitoring", json=body, headers=who[label].headers)
    assert "Traceback" not in r.text
    assert r.status_code == expected(label, RECORDERS), r.text
    assert count(demo_engine, m.MonitoringCheck, pid) == (1 if r.status_code == 200 else 0)


def test_without_the_csrf_header_nothing_is_written(who: dict[str, Caller], demo_engine: Engine) -> None:
    pid = new_patient(demo_engine, NOW)
    r = who["psychiatrist"].client.post(
        f"/api/patients/{pid}/monitoring", json={"kind": "liver_tests", "done_on": "2032-06-20"}
    )
    assert r.status_code in {401, 403}
    assert count(demo_engine, m.MonitoringCheck, pid) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "liver_tests"},
        {"kind": "x", "done_on": "2032-06-20"},
        {"kind": "liver_tests", "done_on": "2040-01-01"},
    ],
)
def test_a_bad_entry_is_refused_in_one_sentence(
    who: dict[str, Caller], demo_engine: Engine, body: dict[str, str]
) -> None:
    pid = new_patient(demo_engine, NOW)
    psych = who["psychiatrist"]
    r = psych.client.post(f"/api/patients/{pid}/monitoring", json=body, headers=psych.headers)
    assert r.status_code == 400 and r.json()["error"]
    assert count(demo_engine, m.MonitoringCheck, pid) == 0
