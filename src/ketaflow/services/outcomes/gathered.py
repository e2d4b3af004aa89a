"""The per-clinic aggregates behind the dashboard: gathered live by the outcome queries, or
rebuilt from a stored summary (:mod:`.summary`), with the same values in the same order.

Every figure is a count or a sum grouped by clinic, so each clinic's share can be stored on
its own and the network's figures added up from them exactly as from the live rows. Rows of
the two lists (first responses, side effects) keep their position in the live result, so
sums of floats are added in the same order and come out bit for bit the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ketaflow.store import outcome_queries as q


@dataclass(frozen=True)
class Gathered:
    courses: dict[uuid.UUID, q.CourseCounts]
    histogram: list[tuple[uuid.UUID, int, int, float, float]]
    infusions: dict[uuid.UUID, tuple[int, int]]
    side_effects: list[tuple[uuid.UUID, str, int, int]]
    adverse: dict[uuid.UUID, int]
    pauses: dict[uuid.UUID, int]
    recovery: dict[uuid.UUID, tuple[int, float, float]]


def gather_live(conn: Connection, d: q.OutcomeDefinitions, ids: Sequence[uuid.UUID] | None) -> Gathered:
    """Run every dashboard query (each grouped by clinic) for these clinics (None: all)."""
    summary = q.course_summary(conn, d, ids)
    return Gathered(
        courses={c.clinic_id: c for c in summary.counts},
        histogram=summary.first_responses,
        infusions=q.infusion_counts(conn, ids),
        side_effects=q.side_effect_counts(conn, ids),
        adverse=q.adverse_event_infusions(conn, ids),
        pauses=q.blood_pressure_pauses(conn, ids),
        recovery=q.recovery_minutes_sums(conn, ids),
    )


def per_clinic_figures(g: Gathered, clinic_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Each clinic's share of `g` as JSON-ready figures (absent figures stay absent, as None)."""
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for cid in clinic_ids:
        c = g.courses.get(cid)
        out[cid] = {
            "courses": None
            if c is None
            else [c.started, c.completed, c.dropped_out, c.evaluable, c.responders, c.remitters],
            "histogram": [[i, k, n, s, s2] for i, (ci, k, n, s, s2) in enumerate(g.histogram) if ci == cid],
            "infusions": _list(g.infusions.get(cid)),
            "side_effects": [
                [i, kind, n, ae] for i, (ci, kind, n, ae) in enumerate(g.side_effects) if ci == cid
            ],
            "adverse": g.adverse.get(cid),
            "pauses": g.pauses.get(cid),
            "recovery": _list(g.recovery.get(cid)),
        }
    return out


def from_figures(figures: dict[uuid.UUID, dict[str, Any]]) -> Gathered:
    """The inverse of :func:`per_clinic_figures` (over the clinics given)."""
    courses: dict[uuid.UUID, q.CourseCounts] = {}
    histogram: list[tuple[int, tuple[uuid.UUID, int, int, float, float]]] = []
    effects: list[tuple[int, tuple[uuid.UUID, str, int, int]]] = []
    infusions: dict[uuid.UUID, tuple[int, int]] = {}
    adverse: dict[uuid.UUID, int] = {}
    pauses: dict[uuid.UUID, int] = {}
    recovery: dict[uuid.UUID, tuple[int, float, float]] = {}
    for cid, f in figures.items():
        if f["courses"] is not None:
            courses[cid] = q.CourseCounts(cid, *(int(v) for v in f["courses"]))
        histogram += [
            (int(i), (cid, int(k), int(n), float(s), float(s2))) for i, k, n, s, s2 in f["histogram"]
        ]
        effects += [(int(i), (cid, str(kind), int(n), int(ae))) for i, kind, n, ae in f["side_effects"]]
        if f["infusions"] is not None:
            infusions[cid] = (int(f["infusions"][0]), int(f["infusions"][1]))
        if f["adverse"] is not None:
            adverse[cid] = int(f["adverse"])
        if f["pauses"] is not None:
            pauses[cid] = int(f["pauses"])
        if f["recovery"] is not None:
            n, s, s2 = f["recovery"]
            recovery[cid] = (int(n), float(s), float(s2))
    return Gathered(
        courses=courses,
        histogram=[row for _, row in sorted(histogram, key=lambda x: x[0])],
        infusions=infusions,
        side_effects=[row for _, row in sorted(effects, key=lambda x: x[0])],
        adverse=adverse,
        pauses=pauses,
        recovery=recovery,
    )


def _list(value: tuple[Any, ...] | None) -> list[Any] | None:
    return None if value is None else list(value)
