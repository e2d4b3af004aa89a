"""Summaries kept for speed: each clinic's outcome-dashboard figures as of a refresh.

Not a clinical fact and not an editable record: a derived copy of aggregates the outcome
queries compute, replaced as a whole by each refresh (see
:mod:`ketaflow.services.outcomes.summary`). One row per clinic and set of outcome
definitions (response and remission cut-offs, depression protocols), so a change of the
clinical rules never reads figures computed under the old ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.store.models.base import Base, ClinicOwned, Identified
from ketaflow.store.types import JSONType


class OutcomeSummary(Base, Identified, ClinicOwned):
    """One clinic's dashboard aggregates (counts and sums, no patient rows) at `computed_at`."""

    __tablename__ = "outcome_summaries"
    __table_args__ = (UniqueConstraint("clinic_id", "definitions_key"),)

    definitions_key: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime]
    figures: Mapped[dict[str, Any]] = mapped_column(JSONType)
