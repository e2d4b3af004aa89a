"""FHIR (issue 15): bulk export jobs, and the SMART Backend Services clients and their tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
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
    # The research variant (services/fhir_export.py, deidentify=True) was asked for.
    deidentified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    request_url: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    # Or the SMART Backend Services client that asked (FhirClient.client_id).
    requested_by_client: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    progress: Mapped[int] = mapped_column(Integer, default=0)  # patients done, of `patients`
    patients: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)


class FhirClient(Identified, Base):
    """A registered SMART Backend Services client (a registry's or payer's system): its public keys
    (a JWKS), the scopes it may ask for and the clinics whose records it may export."""

    __tablename__ = "fhir_clients"

    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    jwks: Mapped[dict[str, Any]] = mapped_column(JSONType)
    scopes: Mapped[str] = mapped_column(String(400))
    clinic_ids: Mapped[list[str]] = mapped_column(JSONType)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FhirAccessToken(Identified, Base):
    """A short-lived access token issued to a client; only its SHA-256 is kept. The assertion's jti
    is kept with it, so an assertion is never accepted twice (RFC 7523 section 3)."""

    __tablename__ = "fhir_access_tokens"
    __table_args__ = (UniqueConstraint("client_row_id", "assertion_jti"),)

    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    client_row_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fhir_clients.id"), index=True)
    assertion_jti: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
