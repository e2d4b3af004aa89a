"""The stored per-clinic outcome summaries (table ``outcome_summaries``): read and replace."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text

from ketaflow.store import models as m


def read_summaries(
    conn: Connection, definitions_key: str, clinic_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[datetime, dict[str, Any]]]:
    """{clinic: (computed at, figures)} for the clinics that have a summary under these definitions."""
    s = m.OutcomeSummary
    rows = conn.execute(
        select(s.clinic_id, s.computed_at, s.figures).where(
            s.definitions_key == definitions_key, s.clinic_id.in_(list(clinic_ids))
        )
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def replace_summaries(
    conn: Connection,
    definitions_key: str,
    computed_at: datetime,
    figures: Mapping[uuid.UUID, dict[str, Any]],
) -> bool:
    """Replace every clinic's summary under these definitions, unless a summary computed later is
    stored already (then nothing is written and the answer is False). The caller commits.

    On PostgreSQL a transaction-scoped advisory lock makes concurrent refreshes take turns
    (instead of failing on the (clinic, definitions) unique key); on SQLite the caller's
    write transaction does.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('ketaflow.outcome_summaries'))"))
    s = m.OutcomeSummary
    latest = conn.execute(
        select(func.max(s.computed_at)).where(s.definitions_key == definitions_key)
    ).scalar_one_or_none()
    if latest is not None and latest > computed_at:
        return False
    conn.execute(delete(s).where(s.definitions_key == definitions_key))
    if figures:
        conn.execute(
            insert(s),
            [
                {
                    "id": uuid.uuid4(),
                    "clinic_id": cid,
                    "definitions_key": definitions_key,
                    "computed_at": computed_at,
                    "figures": f,
                }
                for cid, f in figures.items()
            ],
        )
    return True
