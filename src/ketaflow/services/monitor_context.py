"""What charting a monitor's reading needs to know of its infusion, kept between messages.

A monitor sends a set of readings every few seconds to minutes; each is charted in the phase the
pump was in and assessed against the infusion's first reading and those within the confirmation
window before it (`infusion.assess_charted`). Reading all of that again for every message was
most of the MLLP listener's time. Here it is read once per infusion (`InfusionContext`) and kept
up to date with what the feed itself charts.

Invalidation (`ContextCache.check`): the context is made only of rows of append-only, hash-chained
tables (vital signs, pump events, side effects, discharges; `ketaflow.store.chain`), and every
insert into one of them moves that table's chain head for the clinic. So, inside the writing
transaction (SQLite: BEGIN IMMEDIATE, every other writer waits), the cache compares the clinic's
four chain heads with those it saw when it last committed: if any moved, someone else charted
something at that clinic (a nurse's reading or correction, an artefact mark, a pump event, a
discharge) and the clinic's contexts are dropped and read again. Kept only on SQLite, where the
write lock makes that check exact; on PostgreSQL (writers run concurrently) the cache is emptied
at every batch and the contexts read fresh in each transaction.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

import ketaflow.clinical as clinical
from ketaflow.services.infusion import charted_vitals, pump_records, symptom_onsets
from ketaflow.services.session_state import PumpRecord
from ketaflow.store import models as m
from ketaflow.store.chain import scope_of
from ketaflow.store.facts import current

# The tables a context is read from (all append-only and chained: an insert moves their head).
WATCHED = ("vital_signs", "administration_events", "side_effects", "discharges")


class _Charted(SimpleNamespace):
    """Told apart by identity, as ORM rows are."""

    __eq__ = object.__eq__
    __hash__ = object.__hash__  # type: ignore[assignment]


_HEADS = select(m.ChainHead.table_name, m.ChainHead.scope, m.ChainHead.seq).where(
    m.ChainHead.scope.in_(bindparam("scopes", expanding=True)), m.ChainHead.table_name.in_(WATCHED)
)


def charted_reading(values: dict[str, Any]) -> m.VitalSign:
    """A reading the feed is charting (its column values), as the assessment reads a VitalSign row
    (by attribute); a plain object, since the feed inserts its rows without the ORM."""
    return cast(m.VitalSign, _Charted(**values))


def confirmation_window() -> timedelta:
    return timedelta(minutes=clinical.default_rules().vitals.confirmation.window_minutes)


@dataclass
class InfusionContext:
    """One infusion as the feed charts into it: its pump events, first discharge, symptom onsets,
    its patient's MRN and organisation, its first reading and its readings measured since
    `covered_from` (in time order)."""

    session_id: uuid.UUID
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    mrn: str
    organization_id: uuid.UUID
    pumps: list[PumpRecord]
    discharged_at: datetime | None
    onsets: list[datetime]
    first: m.VitalSign | None
    covered_from: datetime
    recent: list[m.VitalSign] = field(default_factory=list)

    def covers(self, at: datetime) -> bool:
        return at - confirmation_window() >= self.covered_from

    def earlier(self, reading: m.VitalSign) -> list[m.VitalSign]:
        """What `assess_charted` reads for `reading`: the first reading (of those charted, this one
        included) and the readings measured within the window up to it, less the reading itself."""
        at = reading.measured_at
        first = self.first if self.first is not None and self.first.measured_at <= at else reading
        since = at - confirmation_window()
        recent = [r for r in self.recent if since <= r.measured_at <= at]
        return [r for r in dict.fromkeys([first, *recent]) if r.id != reading.id]

    def add(self, reading: m.VitalSign) -> None:
        """A reading the feed has just charted; older readings than the window of the newest are let go."""
        if self.first is None or reading.measured_at < self.first.measured_at:
            self.first = reading
        bisect.insort(self.recent, reading, key=lambda r: r.measured_at)
        cutoff = self.recent[-1].measured_at - confirmation_window()
        if self.recent[0].measured_at < cutoff:
            self.recent = [r for r in self.recent if r.measured_at >= cutoff]
            self.covered_from = max(self.covered_from, cutoff)


@dataclass(frozen=True)
class OpenInfusion:
    """An infusion as the feed finds it in a chair (the columns it needs of infusion_sessions)."""

    id: uuid.UUID
    chair_id: uuid.UUID | None
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    opened_at: datetime


def load_context(db: Session, session: OpenInfusion, at: datetime) -> InfusionContext:
    """The infusion's context read from the database, covering readings measured from `at` less
    the confirmation window."""
    since = at - confirmation_window()
    rows = charted_vitals().where(m.VitalSign.session_id == session.id)
    first = db.scalars(rows.order_by(m.VitalSign.measured_at).limit(1)).first()
    recent = list(db.scalars(rows.where(m.VitalSign.measured_at >= since).order_by(m.VitalSign.measured_at)))
    left = db.scalar(
        current(m.Discharge)
        .with_only_columns(m.Discharge.discharged_at)
        .where(m.Discharge.session_id == session.id)
        .order_by(m.Discharge.discharged_at)
        .limit(1)
    )
    patient = db.get(m.Patient, session.patient_id)
    assert patient is not None  # foreign key
    return InfusionContext(
        session_id=session.id,
        clinic_id=session.clinic_id,
        patient_id=session.patient_id,
        mrn=patient.mrn,
        organization_id=patient.organization_id,
        pumps=pump_records(db, session.id),
        discharged_at=left,
        onsets=symptom_onsets(db, session.id),
        first=first,
        covered_from=since,
        recent=recent,
    )


class ContextCache:
    """The infusion contexts kept between the listener's transactions (see the module doc)."""

    def __init__(self) -> None:
        self.contexts: dict[uuid.UUID, InfusionContext] = {}
        self._heads: dict[str, tuple[tuple[str, int], ...]] = {}  # clinic scope -> the heads seen
        self._now: dict[str, tuple[tuple[str, int], ...]] = {}  # the heads `check` read
        self.reloads = 0  # contexts read from the database (for tests and benchmarks)

    def check(self, db: Session, clinic_ids: set[uuid.UUID]) -> None:
        """In the writing transaction, before any context of these clinics is used: drop those of
        a clinic where another writer charted since this cache last committed."""
        if db.get_bind().dialect.name != "sqlite":
            self.clear()
            return
        self._now = self._read_heads(db, clinic_ids)
        stale = {s for s in self._now if self._now[s] != self._heads.get(s)}
        if stale:
            self.contexts = {k: c for k, c in self.contexts.items() if scope_of(c.clinic_id) not in stale}
            for scope in stale:
                self._heads.pop(scope, None)

    def committing(self, charted: Mapping[uuid.UUID, int]) -> None:
        """Before the feed commits, having inserted `charted` vital-sign rows per clinic and
        nothing else into the watched tables: the heads its own rows moved to (the write lock,
        held since `check`, means nobody else moved them)."""
        for scope, heads in self._now.items():
            added = sum(n for c, n in charted.items() if scope_of(c) == scope)
            moved = dict(heads)
            if added:
                moved["vital_signs"] = moved.get("vital_signs", 0) + added
            self._heads[scope] = tuple(sorted(moved.items()))
        self._now = {}

    def get(self, db: Session, session: OpenInfusion, at: datetime) -> InfusionContext:
        found = self.contexts.get(session.id)
        if found is None or not found.covers(at):
            found = self.contexts[session.id] = load_context(db, session, at)
            self.reloads += 1
        return found

    def clear(self) -> None:
        self.contexts.clear()
        self._heads.clear()
        self._now = {}

    @staticmethod
    def _read_heads(db: Session, clinic_ids: set[uuid.UUID]) -> dict[str, tuple[tuple[str, int], ...]]:
        scopes = sorted(scope_of(c) for c in clinic_ids)
        found: dict[str, list[tuple[str, int]]] = {s: [] for s in scopes}
        for table, scope, seq in db.execute(_HEADS, {"scopes": scopes}):
            found[scope].append((table, seq))
        return {s: tuple(sorted(v)) for s, v in found.items()}
