"""A bulk export whose database goes away mid-job (the server's database restarted or dropped):
the worker thread ends quietly with the failure logged, and the job stays "running" so the next
server start begins it again (`resume_jobs`). Found in CI on 2026-12-06: the thread died with an
unhandled exception when recording the failure failed too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import ketaflow.services.fhir_bulk as fhir_bulk
from ketaflow.store import models as m


def test_a_job_whose_database_is_gone_ends_quietly_and_resumes_later(
    migrated_engine: Callable[[], Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    engine = migrated_engine()
    with Session(engine) as db:
        job = m.FhirExportJob(level="system", clinic_ids=[], types=None, request_url="/fhir/$export")
        db.add(job)
        db.commit()
        job_id = job.id

    gone = OperationalError("SELECT 1", {}, Exception('database "ketaflow" does not exist'))

    def database_goes_away(*_args: Any, **_kwargs: Any) -> Any:
        def refuse(_db: Any) -> None:
            raise gone

        monkeypatch.setattr(fhir_bulk, "begin_write", refuse)  # every later write finds no database
        raise gone

    monkeypatch.setattr(fhir_bulk, "export_ndjson", database_goes_away)
    fhir_bulk.run_job(engine, job_id, tmp_path)  # returns: nothing escapes the worker thread
    assert "could not be recorded" in caplog.text
    with Session(engine) as db:
        assert db.get(m.FhirExportJob, job_id).status == "running"  # type: ignore[union-attr]
    monkeypatch.undo()
    threads = fhir_bulk.resume_jobs(engine, tmp_path)  # the next server start
    for t in threads:
        t.join(timeout=60)
    with Session(engine) as db:
        assert db.get(m.FhirExportJob, job_id).status == "completed"  # type: ignore[union-attr]
