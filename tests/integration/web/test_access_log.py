"""The server's access log: one JSON line per request, the route's template and never a patient's data."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.web import access_log
from ketaflow.web.app import create_app
from tests.integration.web.sign_in_support import forget_sign_ins, post_login

AGENT = "AccessLogTest/2.0"
FIELDS = {
    "time",
    "method",
    "route",
    "status",
    "duration_ms",
    "request_id",
    "user_id",
    "patient",
    "client",
    "user_agent",
}


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def parsed(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def captured() -> Iterator[Lines]:
    logger = logging.getLogger(access_log.LOGGER)
    handler, level, propagate = Lines(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    with TestClient(
        create_app(demo_engine), client=("203.0.113.9", 40000), headers={"User-Agent": AGENT}
    ) as c:
        yield c
    forget_sign_ins(demo_engine)


def a_patient(engine: Engine) -> m.Patient:
    with Session(engine) as db:
        patient = db.scalars(
            select(m.Patient)
            .join(m.Clinic, m.Clinic.id == m.Patient.clinic_id)
            .where(m.Clinic.code == "aus")
            .order_by(m.Patient.mrn)
            .limit(1)
        ).one()
        db.expunge(patient)
    return patient


def test_one_line_per_request_with_the_route_template_and_no_patient_data(
    client: TestClient, demo_engine: Engine, captured: Lines
) -> None:
    patient = a_patient(demo_engine)
    assert post_login(client, "nurse1.aus@demo.ketaflow.org").status_code == 303
    with Session(demo_engine) as db:
        nurse_id = db.scalar(
            select(m.StaffUser.id).where(m.StaffUser.email == "nurse1.aus@demo.ketaflow.org")
        )
    captured.lines.clear()
    chart = client.get(f"/patients/{patient.id}?q={patient.family_name}")
    api = client.get(f"/api/patients/{patient.id}")
    missing = client.get(f"/no/such/page/{patient.mrn}")
    lines = captured.parsed()
    assert len(lines) == 3  # one per request
    for line, response in zip(lines, (chart, api, missing), strict=True):
        assert set(line) == FIELDS
        assert line["status"] == response.status_code and line["method"] == "GET"
        assert line["request_id"] == response.headers["x-request-id"]
        assert line["client"] == "203.0.113.9" and line["user_agent"] == AGENT
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert str(line["time"]).endswith("+00:00")
    assert [line["route"] for line in lines] == [
        "/patients/{patient_id}",
        "/api/patients/{patient_id}",
        "(no route)",
    ]
    assert lines[0]["user_id"] == lines[1]["user_id"] == str(nurse_id)
    assert lines[0]["patient"] is False
    text = "\n".join(captured.lines)
    for secret in (str(patient.id), patient.id.hex, patient.family_name, patient.given_name, patient.mrn):
        assert secret not in text
    assert len({line["request_id"] for line in lines}) == 3


def test_refusals_and_anonymous_requests_are_logged_too(
    client: TestClient, demo_engine: Engine, captured: Lines
) -> None:
    patient = a_patient(demo_engine)
    assert client.get(f"/api/patients/{patient.id}").status_code == 401
    assert post_login(client, "nurse1.den@demo.ketaflow.org").status_code == 303
    captured.lines.clear()
    assert client.get(f"/api/patients/{patient.id}").status_code == 403
    (line,) = captured.parsed()
    assert (line["route"], line["status"]) == ("/api/patients/{patient_id}", 403)
    assert line["user_id"] is not None


def test_serve_sends_the_log_to_the_file_the_setting_names(
    client: TestClient, tmp_path: Path, captured: Lines
) -> None:
    target = tmp_path / "access.jsonl"
    handler = access_log.configure(str(target))
    try:
        assert client.get("/health").status_code == 200
        assert client.get("/login").status_code == 200
    finally:
        logging.getLogger(access_log.LOGGER).removeHandler(handler)
        handler.close()
    written = [json.loads(x) for x in target.read_text().splitlines()]
    assert [(x["route"], x["status"]) for x in written] == [("/health", 200), ("/login", 200)]
    assert all(x["user_id"] is None and x["client"] == "203.0.113.9" for x in written)


def test_serve_turns_uvicorns_access_log_off_and_configures_ours(
    demo_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from ketaflow.cli import system
    from ketaflow.settings import get_settings
    from ketaflow.web import asgi

    target = tmp_path / "served.jsonl"
    ran: dict[str, object] = {}
    monkeypatch.setenv("KETAFLOW_ACCESS_LOG", str(target))
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.update(options))
    monkeypatch.setattr(asgi, "tune_gc", lambda: None)  # no gc.freeze() in the test process
    get_settings.cache_clear()
    logger = logging.getLogger(access_log.LOGGER)
    level, propagate = logger.level, logger.propagate
    try:
        system._serve(demo_engine, "127.0.0.1", 8765, 1)
        assert ran["access_log"] is False  # uvicorn's own: off, so there is one access log
        ours = [h for h in logger.handlers if h.get_name() == "ketaflow-access"]
        assert len(ours) == 1 and isinstance(ours[0], logging.FileHandler)
        assert Path(ours[0].baseFilename) == target
    finally:
        for handler in [h for h in logger.handlers if h.get_name() == "ketaflow-access"]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        logger.propagate = propagate
        get_settings.cache_clear()
