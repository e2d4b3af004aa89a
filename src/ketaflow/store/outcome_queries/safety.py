"""Per-infusion figures: infusions and patients, side effects, adverse events, BP pauses, recovery."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import (
    Connection,
    case,
    exists,
    func,
    null,
    select,
    union_all,
)

from ketaflow.store import models as m
from ketaflow.store.outcome_queries.common import (
    current_rows,
    days_between,
    scoped,
)


def infusion_counts(
    conn: Connection, clinic_ids: Sequence[uuid.UUID] | None
) -> dict[uuid.UUID, tuple[int, int]]:
    """Per clinic: (patients with at least one infusion, infusions), every protocol."""
    s = m.InfusionSession
    stmt = (
        select(s.clinic_id, func.count(func.distinct(s.patient_id)), func.count())
        .where(scoped(s.clinic_id, clinic_ids))
        .group_by(s.clinic_id)
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(stmt)}


def side_effect_counts(
    conn: Connection, clinic_ids: Sequence[uuid.UUID] | None
) -> list[tuple[uuid.UUID, str, int, int]]:
    """Per clinic and kind: (infusions with that side effect, infusions where it was an adverse event)."""
    se = current_rows(m.SideEffect).where(scoped(m.SideEffect.clinic_id, clinic_ids)).subquery()
    stmt = select(
        se.c.clinic_id,
        se.c.kind,
        func.count(func.distinct(se.c.session_id)),
        func.count(func.distinct(case((se.c.is_adverse_event, se.c.session_id)))),
    ).group_by(se.c.clinic_id, se.c.kind)
    return [(r[0], str(r[1]), int(r[2]), int(r[3])) for r in conn.execute(stmt)]


def adverse_event_infusions(conn: Connection, clinic_ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, int]:
    """Per clinic: infusions with at least one adverse event."""
    se = current_rows(m.SideEffect).where(scoped(m.SideEffect.clinic_id, clinic_ids)).subquery()
    stmt = (
        select(se.c.clinic_id, func.count(func.distinct(se.c.session_id)))
        .where(se.c.is_adverse_event)
        .group_by(se.c.clinic_id)
    )
    return {r[0]: int(r[1]) for r in conn.execute(stmt)}


def blood_pressure_pauses(conn: Connection, clinic_ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, int]:
    """Per clinic: infusions paused with hypertension charted in the same infusion.

    A pause event carries no reason in the data model, so "paused for blood pressure" is
    read as a pause and a hypertension side effect in the same session.
    """
    ev = current_rows(m.AdministrationEvent).where(m.AdministrationEvent.kind == "pause").subquery()
    se = current_rows(m.SideEffect).where(m.SideEffect.kind == "hypertension").subquery()
    stmt = (
        select(ev.c.clinic_id, func.count(func.distinct(ev.c.session_id)))
        .where(scoped(ev.c.clinic_id, clinic_ids), exists().where(se.c.session_id == ev.c.session_id))
        .group_by(ev.c.clinic_id)
    )
    return {r[0]: int(r[1]) for r in conn.execute(stmt)}


def recovery_minutes_sums(
    conn: Connection, clinic_ids: Sequence[uuid.UUID] | None
) -> dict[uuid.UUID, tuple[int, float, float]]:
    """Per clinic: (n, sum, sum of squares) of minutes from the pump's (last) stop to discharge.

    The current stop events and discharges are stacked (UNION ALL) and grouped by session:
    two sequential scans and one aggregation, with no per-row index probes (which cost
    seconds on PostgreSQL and most of the time on SQLite).
    """
    ev, dc = m.AdministrationEvent, m.Discharge
    stops = current_rows(ev).where(ev.kind == "stop", scoped(ev.clinic_id, clinic_ids))
    discharges = current_rows(dc).where(scoped(dc.clinic_id, clinic_ids))
    stacked = union_all(
        stops.with_only_columns(
            ev.session_id, ev.clinic_id, ev.occurred_at.label("stopped_at"), null().label("discharged_at")
        ),
        discharges.with_only_columns(dc.session_id, dc.clinic_id, null(), dc.discharged_at),
    ).subquery()
    per = (
        select(
            stacked.c.clinic_id,
            func.max(stacked.c.stopped_at).label("stopped_at"),
            func.max(stacked.c.discharged_at).label("discharged_at"),
        )
        .group_by(stacked.c.session_id, stacked.c.clinic_id)
        .subquery()
    )
    minutes = days_between(per.c.stopped_at, per.c.discharged_at) * 1440.0
    stmt = (
        select(per.c.clinic_id, func.count(), func.sum(minutes), func.sum(minutes * minutes))
        .where(per.c.stopped_at.is_not(None), per.c.discharged_at.is_not(None))
        .group_by(per.c.clinic_id)
    )
    return {r[0]: (int(r[1]), float(r[2] or 0), float(r[3] or 0)) for r in conn.execute(stmt)}
