"""FHIR Bulk Data export jobs (issue 15): one row per `$export` kick-off, its progress and output."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.store.models.base import Base, Identified, utcnow
from ketaflow.store.types import JSONType


class FhirExportJob(Identified, Base):
    """A bulk export asked for, worked outside the request (services/fhir_bulk.py).

    status: accepted (waiting for the worker), running, completed, failed, cancelled. A job found
    accepted or running when the server starts is started again from the beginning (its partial
    files are discarded), so a restart loses no job. `output` is the manifest's list of files.
    """

    __tablename__ = "fhir_export_jobs"

    status: Mapped[str] = mapped_column(String(16), default="accepted", index=True)
    level: Mapped[str] = mapped_column(String(16))  # system | patient | group
    # The clinics whose patients are exported (ids as text), fixed at kick-off from the requester's roles.
    clinic_ids: Mapped[list[str]] = mapped_column(JSONType)
    types: Mapped[list[str] | None] = mapped_column(JSONType)
    since: Mapped[datetime | None]
    request_url: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    progress: Mapped[int] = mapped_column(Integer, default=0)  # patients done, of `patients`
    patients: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
