"""Stored outcome summaries: the dashboard's per-clinic aggregates, kept for a large network.

Over a network of millions of infusions on PostgreSQL the dashboard's queries take about a
minute however they are written (they read every infusion, discharge and questionnaire). A
refresh runs them once for the whole network and stores each clinic's counts and sums
(``outcome_summaries``); the dashboard then reads a few rows and states the time the figures
are as of. The figures are the live computation's, value for value (see :mod:`.gathered`).

When the dashboard uses them (``outcomes_dashboard(summary=None)``, the default): on
PostgreSQL, whenever a summary under the current definitions exists for every clinic in
scope; never on SQLite, where the live figures take a quarter of a second and are reused
while the data are unchanged. The first summary is made explicitly
(:func:`refresh_outcome_summaries`, e.g. from a scheduled job; until then the dashboard
computes live, as before). Reading figures older than ``SUMMARY_MAX_AGE`` through an Engine
starts a refresh in the background (:func:`refresh_in_background`): the reader gets the stored
figures at once, with their time, and a later reader the new ones.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
    stored: bool  # False when a newer summary was stored meanwhile (by another refresh)


# How old stored figures may be before reading them starts a refresh in the background. Our
# choice (no clinical source): outcome rates move over weeks, and a refresh of a national
# network costs a minute or two of database time.
SUMMARY_MAX_AGE = timedelta(minutes=15)
log = logging.getLogger(__name__)


def refresh_outcome_summaries(bind: Engine, *, rules: ClinicalRules | None = None) -> RefreshResult:
    """Compute the network's dashboard aggregates live and store them, replacing the last summary.

    `computed_at` is taken before anything is read, so a summary never claims to be newer
    than its data. On PostgreSQL every query reads one snapshot (REPEATABLE READ, read only)
    and the summary is then replaced in a short transaction of its own, unless a newer one
    was stored meanwhile; on SQLite it is all one write transaction (a quarter of a second).
    """
    started = time.perf_counter()
    d = outcome_definitions(rules)
    key = definitions_key(d)
    if bind.dialect.name == "sqlite":
        with Session(bind) as db:
            begin_write(db)
            computed_at, figures = _figures(db.connection(), d)
            stored = q.replace_summaries(db.connection(), key, computed_at, figures)
            db.commit()
    else:
        with bind.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            # One big report query: no JIT (measured at 100x: 3 s of compiling) and room for its
            # hashes and sorts in memory rather than temporary files (this transaction only).
            conn.exec_driver_sql("SET LOCAL jit = off")
            conn.exec_driver_sql("SET LOCAL work_mem = '128MB'")
            computed_at, figures = _figures(conn, d)
            conn.rollback()
        with bind.begin() as conn:
            stored = q.replace_summaries(conn, key, computed_at, figures)
    return RefreshResult(computed_at, len(figures), time.perf_counter() - started, stored)


def _figures(conn: Connection, d: q.OutcomeDefinitions) -> tuple[datetime, dict[uuid.UUID, dict[str, Any]]]:
    computed_at = utcnow()
    clinic_ids = [r[0] for r in q.clinics(conn)]
    return computed_at, per_clinic_figures(gather_live(conn, d, None), clinic_ids)


_REFRESHING: dict[str, threading.Thread] = {}
_REFRESHING_LOCK = threading.Lock()


def refresh_in_background(bind: Engine, *, rules: ClinicalRules | None = None) -> threading.Thread | None:
    """Start a refresh in a daemon thread, unless one of this database is already running here."""
    where = bind.url.render_as_string(hide_password=True)

    def run() -> None:
        try:
            result = refresh_outcome_summaries(bind, rules=rules)
            log.info("outcome summary refreshed in %.1f s (as of %s)", result.seconds, result.computed_at)
        except Exception:  # a background job has nobody to raise to: log it, the old figures stay
            log.exception("outcome summary refresh failed")
        finally:
            with _REFRESHING_LOCK:
                _REFRESHING.pop(where, None)

    with _REFRESHING_LOCK:
        if where in _REFRESHING:
            return None
        thread = _REFRESHING[where] = threading.Thread(
            target=run, name="outcome-summary-refresh", daemon=True
        )
    thread.start()
    return thread


def running_refresh(bind: Engine) -> threading.Thread | None:
    """The background refresh of this database running in this process, if any (for tests)."""
    with _REFRESHING_LOCK:
        return _REFRESHING.get(bind.url.render_as_string(hide_password=True))


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
    "SUMMARY_MAX_AGE",
    "RefreshResult",
    "definitions_key",
    "gather_from_summary",
    "refresh_in_background",
    "refresh_outcome_summaries",
    "running_refresh",
    "use_summary",
]
