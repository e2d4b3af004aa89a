"""Stored outcome summaries: the dashboard's per-clinic aggregates, kept for a large network.

Over a network of millions of infusions on PostgreSQL the dashboard's queries take about a
minute however they are written (they read every infusion, discharge and questionnaire). A
refresh runs them once for the whole network and stores each clinic's counts and sums
(``outcome_summaries``); the dashboard then reads a few rows and states the time the figures
are as of. The figures are the live computation's, value for value (see :mod:`.gathered`).

When the dashboard uses them (``outcomes_dashboard(summary=None)``, the default): on
PostgreSQL, whenever a summary under the current definitions exists for every clinic in
scope; never on SQLite, where the live figures take a quarter of a second and are reused
while the data are unchanged. A refresh is explicit (:func:`refresh_outcome_summaries`,
e.g. from a scheduled job); without one the dashboard computes live, as before.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from ketaflow.clinical.rules import ClinicalRules
from ketaflow.services.outcomes.common import outcome_definitions
from ketaflow.services.outcomes.gathered import Gathered, from_figures, gather_live, per_clinic_figures
from ketaflow.store import outcome_queries as q
from ketaflow.store.engine import begin_write
from ketaflow.store.models.base import utcnow


def definitions_key(d: q.OutcomeDefinitions) -> str:
    """A stable key for a set of definitions (a change of the rules never reads old figures)."""
    return hashlib.sha256(repr(d).encode()).hexdigest()


@dataclass(frozen=True)
class RefreshResult:
    computed_at: datetime
    clinics: int
    seconds: float


def refresh_outcome_summaries(bind: Engine, *, rules: ClinicalRules | None = None) -> RefreshResult:
    """Compute the network's dashboard aggregates live and store them, replacing the last summary.

    The figures are read and stored in one transaction, and `computed_at` is taken before
    they are read, so a summary never claims to be newer than the data it holds.
    """
    started = time.perf_counter()
    d = outcome_definitions(rules)
    with Session(bind) as db:
        begin_write(db)
        conn = db.connection()
        computed_at = utcnow()
        clinic_ids = [r[0] for r in q.clinics(conn)]
        g = gather_live(conn, d, None)
        q.replace_summaries(conn, definitions_key(d), computed_at, per_clinic_figures(g, clinic_ids))
        db.commit()
    return RefreshResult(computed_at, len(clinic_ids), time.perf_counter() - started)


def gather_from_summary(
    conn: Connection, d: q.OutcomeDefinitions, clinic_ids: Sequence[uuid.UUID]
) -> tuple[Gathered, datetime] | None:
    """The stored aggregates of these clinics and the oldest time they are as of, or None
    when any of them has no summary under these definitions."""
    found = q.read_summaries(conn, definitions_key(d), clinic_ids)
    if len(found) != len(set(clinic_ids)):
        return None
    as_of = min(t for t, _ in found.values())
    return from_figures({cid: f for cid, (_, f) in found.items()}), as_of


def use_summary(conn: Connection, summary: bool | None) -> bool:
    """Whether to read stored summaries: as asked, or by default on every database but SQLite."""
    return conn.dialect.name != "sqlite" if summary is None else summary


__all__ = [
    "RefreshResult",
    "definitions_key",
    "gather_from_summary",
    "refresh_outcome_summaries",
    "use_summary",
]
