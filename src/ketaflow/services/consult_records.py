"""Queries shared by the consultation, consent and plan services."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.store.facts import current


def consultations_newest_first(patient_id: uuid.UUID) -> Select[Any]:
    """The patient's consultations (corrected view), newest first (ties: the later charted)."""
    return (
        current(m.Consultation)
        .where(m.Consultation.patient_id == patient_id)
        .order_by(m.Consultation.held_at.desc(), m.Consultation.recorded_at.desc())
    )


def latest_consultation(db: Session, patient_id: uuid.UUID) -> m.Consultation | None:
    return db.scalars(consultations_newest_first(patient_id).limit(1)).first()
