"""FHIR Bulk Data Access 2.0 `$export`: kick-off, status, files, cancel; the work outside the request.

A kick-off (`GET /fhir/$export`, `/fhir/Patient/$export`, `/fhir/Group/{clinic}/$export`) stores a
job row (store/models/fhir.py) and hands it to a worker thread, which writes the NDJSON files with
`services.fhir_export.export_ndjson` into `<data_dir>/fhir-export/<job id>/` and records progress
and the manifest. A job found waiting or running when the server starts (`resume_jobs`) is
started again from the beginning: the work survives a restart. DELETE cancels: the worker stops at
the next patient and the files are removed.

Who may: bulk export takes whole records of many patients, so it is for the network's
administrators and the clinics' directors (`Action.BULK_EXPORT`), and for SMART Backend Services
clients (services/smart_auth.py) with a `system/*.rs` (or `.read`) token, for the clinics they
are registered for; the system-level and
Patient-level exports cover the clinics where the requester holds that right, the Group export
(a group is a clinic: `Group/{clinic code}`) that clinic only. Each kick-off, status read and file
download is audited; only the requester (or another holder of the right at every clinic of the
job) may poll, download or cancel.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ketaflow.errors import Forbidden, InvalidInput, NotFound
from ketaflow.services.audit import record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.fhir_export import EXPORT_TYPES, export_ndjson, parse_since, parse_types
from ketaflow.services.permissions import Action, allowed, require
from ketaflow.services.smart_auth import SystemCaller
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.store.models import utcnow

log = logging.getLogger("ketaflow.fhir.bulk")
OUTPUT_FORMATS = {"application/fhir+ndjson", "application/ndjson", "ndjson"}
WAITING = ("accepted", "running")


class Cancelled(Exception):
    """The job was cancelled while it ran."""


@dataclass(frozen=True)
class Request:
    level: str  # system | patient | group
    group: str | None = None  # the clinic code of a Group export
    types: str | None = None
    since: str | None = None
    output_format: str | None = None
    request_url: str = ""
    deidentified: bool = False  # the research variant (ketaflow.fhir.deidentify)


def job_folder(data_dir: Path, job_id: uuid.UUID) -> Path:
    return data_dir / "fhir-export" / str(job_id)


Requester = CurrentUser | SystemCaller
READ_SCOPES = {"system/*.rs", "system/*.read"}


def _export_clinics(who: Requester) -> set[uuid.UUID]:
    """The clinics whose records `who` may export in bulk."""
    if isinstance(who, SystemCaller):
        return set(who.clinic_ids) if who.scopes & READ_SCOPES else set()
    return {uuid.UUID(c) for c in who.roles if allowed(who, Action.BULK_EXPORT, uuid.UUID(c))}


def kick_off(db: Session, who: Requester, request: Request) -> m.FhirExportJob:
    """Check the request and the requester's right, store the job (audited); the caller starts it."""
    if request.output_format and request.output_format not in OUTPUT_FORMATS:
        raise InvalidInput(
            f"_outputFormat {request.output_format} is not offered; use application/fhir+ndjson.",
            field="_outputFormat",
        )
    types = parse_types(request.types)
    since = parse_since(request.since)
    begin_write(db)
    if request.level == "group":
        clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == request.group))
        if clinic is None:
            raise NotFound(f"There is no Group {request.group}: a group is a clinic, named by its code.")
        if isinstance(who, SystemCaller):
            if clinic.id not in _export_clinics(who):
                raise Forbidden(
                    "This client is not registered for that clinic's records.", clinic_id=clinic.id
                )
        else:
            require(who, Action.BULK_EXPORT, clinic.id)
        clinic_ids = [clinic.id]
    else:
        clinic_ids = sorted(_export_clinics(who))
        if not clinic_ids:
            raise Forbidden(f"You may not {Action.BULK_EXPORT.value} at any clinic.")
    job = m.FhirExportJob(
        level=request.level,
        clinic_ids=sorted(str(c) for c in clinic_ids),
        types=sorted(types) if types is not None else None,
        since=since,
        deidentified=request.deidentified,
        request_url=request.request_url,
        requested_by_id=None if isinstance(who, SystemCaller) else who.user.id,
        requested_by_client=who.client_id if isinstance(who, SystemCaller) else None,
    )
    db.add(job)
    db.flush()
    record(
        db,
        who.actor(),
        "fhir.bulk_export",
        "fhir_export_job",
        job.id,
        details={
            "level": request.level,
            "clinics": len(clinic_ids),
            "types": job.types,
            "since": request.since,
        },
    )
    db.commit()
    return job


def _mine(db: Session, who: Requester, job_id: uuid.UUID) -> m.FhirExportJob:
    """The job, if `who` asked for it (or, staff, may export every clinic it covers)."""
    job = db.get(m.FhirExportJob, job_id)
    if isinstance(who, SystemCaller):
        visible = job is not None and job.requested_by_client == who.client_id
    else:
        visible = job is not None and (
            job.requested_by_id == who.user.id
            or {uuid.UUID(c) for c in job.clinic_ids} <= _export_clinics(who)
        )
    if job is None or not visible:
        raise NotFound("There is no such export; it may have been cancelled.")
    return job


def status(db: Session, who: Requester, job_id: uuid.UUID) -> m.FhirExportJob:
    job = _mine(db, who, job_id)
    record_read(db, who.actor(), "fhir.bulk_status", "fhir_export_job", job.id)
    return job


def file_path(db: Session, who: Requester, job_id: uuid.UUID, name: str, data_dir: Path) -> Path:
    """The NDJSON file of a completed job (audited), or NotFound."""
    job = _mine(db, who, job_id)
    kinds = {entry["type"] for entry in job.output or []}
    kind = name.removesuffix(".ndjson")
    if job.status != "completed" or kind not in kinds or not name.endswith(".ndjson"):
        raise NotFound(f"This export has no file {name}.")
    record_read(db, who.actor(), "fhir.bulk_file", "fhir_export_job", job.id, details={"file": name})
    return job_folder(data_dir, job_id) / name


def cancel(db: Session, who: Requester, job_id: uuid.UUID, data_dir: Path) -> None:
    begin_write(db)
    job = _mine(db, who, job_id)
    if job.status == "cancelled":
        raise NotFound("There is no such export; it has been cancelled.")
    job.status = "cancelled"
    job.finished_at = utcnow()
    record(db, who.actor(), "fhir.bulk_cancel", "fhir_export_job", job.id)
    db.commit()
    shutil.rmtree(job_folder(data_dir, job_id), ignore_errors=True)


def manifest(job: m.FhirExportJob, base_url: str) -> dict[str, Any]:
    """The completion manifest (Bulk Data 2.0): transaction time, request, files with counts."""
    base = base_url.rstrip("/")
    return {
        "transactionTime": (job.started_at or job.created_at).isoformat(),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {
                "type": entry["type"],
                "url": f"{base}/$export-file/{job.id}/{entry['type']}.ndjson",
                "count": entry["count"],
            }
            for entry in job.output or []
        ],
        "error": [],
    }


# ---- the work -----------------------------------------------------------------------------------


def run_job(engine: Engine, job_id: uuid.UUID, data_dir: Path) -> None:
    """Do one job: write its files, keep its progress, finish it (completed, failed or cancelled)."""
    folder = job_folder(data_dir, job_id)
    # Each write below starts as a writer (begin_write: BEGIN IMMEDIATE on SQLite). A read
    # transaction that then writes fails at once on SQLite ("database is locked", no waiting)
    # when another connection committed in between, e.g. a poll's audit event.
    with Session(engine) as db:
        begin_write(db)
        job = db.get(m.FhirExportJob, job_id)
        if job is None or job.status not in WAITING:
            return
        job.status, job.started_at, job.progress = "running", utcnow(), 0
        clinic_ids = [uuid.UUID(c) for c in job.clinic_ids]
        types, since, deidentified = job.types, job.since, job.deidentified
        db.commit()
    shutil.rmtree(folder, ignore_errors=True)  # a restarted job begins again

    def progress(done: int, total: int) -> None:
        keep = done == total or done % 10 == 0
        with Session(engine) as db:
            if keep:
                begin_write(db)
            current = db.get(m.FhirExportJob, job_id)
            if current is None or current.status == "cancelled":
                raise Cancelled()
            if keep:
                current.progress, current.patients = done, total
                db.commit()

    try:
        result = export_ndjson(
            engine,
            folder,
            clinic_ids=clinic_ids,
            since=since,
            types=types,
            progress=progress,
            deidentify=deidentified,
        )
    except Cancelled:
        shutil.rmtree(folder, ignore_errors=True)
        return
    except Exception as exc:  # noqa: BLE001 - a failed job records why; the server goes on
        log.exception("FHIR export %s failed", job_id)
        shutil.rmtree(folder, ignore_errors=True)
        try:
            with Session(engine) as db:
                begin_write(db)
                job = db.get(m.FhirExportJob, job_id)
                if job is not None and job.status == "running":
                    job.status, job.finished_at = "failed", utcnow()
                    job.error = (
                        f"The export stopped ({type(exc).__name__}); start it again, "
                        "and tell your administrator if it fails again."
                    )
                    db.commit()
        except DBAPIError:  # the database itself is gone (down, dropped): the job stays "running",
            # and the next server start begins it again (resume_jobs); the thread ends quietly
            log.exception("FHIR export %s: the failure could not be recorded", job_id)
        return
    with Session(engine) as db:
        begin_write(db)
        job = db.get(m.FhirExportJob, job_id)
        if job is None or job.status != "running":  # cancelled at the very end
            shutil.rmtree(folder, ignore_errors=True)
            return
        order = {kind: i for i, kind in enumerate(EXPORT_TYPES)}
        job.output = [
            {"type": kind, "count": count}
            for kind, count in sorted(result.counts.items(), key=lambda kv: order[kv[0]])
        ]
        job.status, job.finished_at = "completed", utcnow()
        job.progress = job.patients = result.patients
        db.commit()


def start(engine: Engine, job_id: uuid.UUID, data_dir: Path) -> threading.Thread:
    """Run the job in a thread of its own (outside the request)."""
    thread = threading.Thread(
        target=run_job, args=(engine, job_id, data_dir), name=f"fhir-export-{job_id}", daemon=True
    )
    thread.start()
    return thread


def resume_jobs(engine: Engine, data_dir: Path) -> list[threading.Thread]:
    """At start-up: start again every job left waiting or running by the last server (none when the
    database is not yet migrated to schema 0017: the server's schema check says so)."""
    try:
        with Session(engine) as db:
            waiting = list(db.scalars(select(m.FhirExportJob.id).where(m.FhirExportJob.status.in_(WAITING))))
    except DBAPIError:
        log.warning("FHIR bulk export jobs not resumed: the database has no job table yet (migrate it)")
        return []
    with Session(engine) as db:
        waiting = list(db.scalars(select(m.FhirExportJob.id).where(m.FhirExportJob.status.in_(WAITING))))
        for job in db.scalars(select(m.FhirExportJob).where(m.FhirExportJob.status == "running")):
            job.status = "accepted"
        db.commit()
    return [start(engine, job_id, data_dir) for job_id in waiting]


def progress_text(job: m.FhirExportJob) -> str:
    if job.status == "accepted":
        return "waiting to start"
    if job.patients:
        return f"{job.progress} of {job.patients} patients ({100 * job.progress // job.patients}%)"
    return "starting"
