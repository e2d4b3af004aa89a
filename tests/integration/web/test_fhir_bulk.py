"""FHIR Bulk Data `$export` on the demo test network: kick-off (202 + Content-Location), polling
with X-Progress, the manifest, NDJSON files, DELETE to cancel, who may, and a job resumed after a
restart."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.services import fhir_bulk
from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.test_portal import sign_in

NOW = datetime(2027, 3, 6, 17, 0, tzinfo=UTC)  # a day no other test uses
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def app_and_dir(
    demo_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Path]]:
    app = create_app(demo_engine)
    app.dependency_overrides[clock] = lambda: NOW
    folder = tmp_path_factory.mktemp("bulk")
    app.state.data_dir = folder
    with TestClient(app) as client:
        yield client, folder


def _wait(client: TestClient, status_url: str, seconds: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = client.get(status_url)
        if r.status_code == 200:
            manifest: dict[str, object] = r.json()
            return manifest
        assert r.status_code == 202, r.text
        assert r.headers["x-progress"]
        time.sleep(0.3)
    raise AssertionError(f"the export did not finish in {seconds} s")


def test_a_director_exports_their_clinic(app_and_dir: tuple[TestClient, Path], demo_engine: Engine) -> None:
    client, _folder = app_and_dir
    sign_in(client, "director1.aus")
    r = client.get("/fhir/Group/aus/$export?_type=Patient,Condition", headers=ASYNC)
    assert r.status_code == 202, r.text
    status_url = r.headers["content-location"]
    assert "/fhir/$export-status/" in status_url
    manifest = _wait(client, status_url)
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    outputs = {o["type"]: o for o in manifest["output"]}  # type: ignore[attr-defined]
    assert set(outputs) == {"Patient", "Condition"}
    with Session(demo_engine) as db:
        aus = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert aus is not None
        ids = {str(i) for i in db.scalars(select(m.Patient.id).where(m.Patient.clinic_id == aus.id))}
    f = client.get(outputs["Patient"]["url"])
    assert f.status_code == 200 and f.headers["content-type"].startswith("application/fhir+ndjson")
    patients = [json.loads(line) for line in f.text.splitlines()]
    assert {p["id"] for p in patients} == ids == {p["id"] for p in patients if p["resourceType"] == "Patient"}
    assert outputs["Patient"]["count"] == len(ids)
    assert (
        client.get(status_url.replace("$export-status", "$export-file") + "/Observation.ndjson").status_code
        == 404
    )


def test_who_may_and_the_request_rules(app_and_dir: tuple[TestClient, Path]) -> None:
    client, _folder = app_and_dir
    client.cookies.clear()
    r = client.get("/fhir/$export", headers=ASYNC)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    for who in ("nurse1.aus", "frontdesk1.aus", "psychiatrist1.aus"):
        sign_in(client, who)
        r = client.get("/fhir/Group/aus/$export", headers=ASYNC)
        assert r.status_code == 403 and r.json()["resourceType"] == "OperationOutcome", who
    sign_in(client, "director1.den")
    assert client.get("/fhir/Group/aus/$export", headers=ASYNC).status_code == 403
    assert "respond-async" in client.get("/fhir/Group/den/$export").json()["issue"][0]["diagnostics"]
    assert client.get("/fhir/Group/den/$export?_type=Bogus", headers=ASYNC).status_code == 400
    assert client.get("/fhir/Group/den/$export?_outputFormat=text/csv", headers=ASYNC).status_code == 400
    assert client.get("/fhir/Group/den/$export?_since=yesterday", headers=ASYNC).status_code == 400
    assert client.get("/fhir/Group/nowhere/$export", headers=ASYNC).status_code == 404


def test_cancel_and_others_cannot_see_a_job(app_and_dir: tuple[TestClient, Path]) -> None:
    client, folder = app_and_dir
    sign_in(client, "director1.aus")
    r = client.get("/fhir/Group/aus/$export?_type=Observation", headers=ASYNC)
    assert r.status_code == 202
    status_url = r.headers["content-location"]
    job_id = status_url.rsplit("/", 1)[1]
    sign_in(client, "director1.den")
    assert client.get(status_url).status_code == 404  # not theirs
    sign_in(client, "director1.aus")
    assert client.delete(status_url).status_code == 202
    assert client.get(status_url).status_code == 404
    deadline = time.monotonic() + 60
    while (folder / "fhir-export" / job_id).exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # the worker stops at its next patient and removes what it wrote
    assert not (folder / "fhir-export" / job_id).exists()


def test_a_job_left_running_by_a_stopped_server_is_done_at_the_next_start(
    demo_engine: Engine, tmp_path: Path
) -> None:
    with Session(demo_engine) as db:
        den = db.scalar(select(m.Clinic).where(m.Clinic.code == "den"))
        assert den is not None
        job = m.FhirExportJob(
            level="group",
            clinic_ids=[str(den.id)],
            types=["Patient"],
            request_url="https://x.test/fhir/Group/den/$export",
            status="running",
            progress=3,
        )
        db.add(job)
        db.commit()
        job_id = job.id
    (tmp_path / "fhir-export" / str(job_id)).mkdir(parents=True)
    (tmp_path / "fhir-export" / str(job_id) / "Patient.ndjson.part").write_text("half a line")
    for thread in fhir_bulk.resume_jobs(demo_engine, tmp_path):
        thread.join(timeout=120)
    with Session(demo_engine) as db:
        done = db.get(m.FhirExportJob, job_id)
        assert done is not None and done.status == "completed"
        patients = db.scalars(
            select(m.Patient.id).where(m.Patient.clinic_id == uuid.UUID(done.clinic_ids[0]))
        )
        expected = {str(p) for p in patients}
    lines = (tmp_path / "fhir-export" / str(job_id) / "Patient.ndjson").read_text().splitlines()
    assert {json.loads(line)["id"] for line in lines} == expected
    assert not list((tmp_path / "fhir-export" / str(job_id)).glob("*.part"))


def test_the_research_variant_is_asked_for_with_deidentify(
    app_and_dir: tuple[TestClient, Path], demo_engine: Engine
) -> None:
    """`deidentify=true` on the kick-off: study ids, no name or MRN, the choice kept on the job."""
    from ketaflow.fhir.deidentify import STUDY_ID_SYSTEM

    client, _folder = app_and_dir
    sign_in(client, "director1.aus")
    assert client.get("/fhir/Group/aus/$export?deidentify=maybe", headers=ASYNC).status_code == 400
    r = client.get("/fhir/Group/aus/$export?_type=Patient&deidentify=true", headers=ASYNC)
    assert r.status_code == 202, r.text
    manifest = _wait(client, r.headers["content-location"])
    outputs = {o["type"]: o for o in manifest["output"]}  # type: ignore[attr-defined]
    patients = [json.loads(line) for line in client.get(outputs["Patient"]["url"]).text.splitlines()]
    with Session(demo_engine) as db:
        aus = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert aus is not None
        source = list(db.scalars(select(m.Patient).where(m.Patient.clinic_id == aus.id)))
        job = db.get(m.FhirExportJob, uuid.UUID(r.headers["content-location"].rsplit("/", 1)[1]))
        assert job is not None and job.deidentified
    assert len(patients) == len(source) > 0
    text = json.dumps(patients)
    assert all(p.mrn not in text and p.family_name not in text and str(p.id) not in text for p in source)
    assert all(p["identifier"][0]["system"] == STUDY_ID_SYSTEM and "name" not in p for p in patients)
