"""A cheap "data version" of the tables the outcome figures read, for caching them safely.

On SQLite the version is, per table, the largest rowid (every insert, including an
amendment of a clinical fact, raises it: the facts are append-only) and, for the editable
records (treatment plans, appointments), the row count and the sum of their version numbers
(every edit raises a version by one); for the few clinics, their codes and names. Each part
is an index or B-tree edge lookup except the counts and sums, which scan the small plan and
appointment tables (about 5 ms on the demo network).

On other databases there is no such cheap counter (counting rows of a 3.5-million-infusion
network costs more than the figures), so the version is None and nothing is cached.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

_APPEND_ONLY = (
    "clinics",
    "infusion_sessions",
    "questionnaire_responses",
    "side_effects",
    "administration_events",
    "discharges",
)
_EDITABLE = ("treatment_plans", "appointments")


def _sql() -> str:
    parts = [f"(SELECT max(rowid) FROM {t})" for t in _APPEND_ONLY + _EDITABLE]
    parts += [f"(SELECT count(*) FROM {t})" for t in _EDITABLE]
    parts += [f"(SELECT total(version) FROM {t})" for t in _EDITABLE]
    # Clinics are few and edited in place (a renamed clinic): their codes and names themselves.
    parts.append("(SELECT group_concat(code || ' ' || name, '|') FROM clinics)")
    return "SELECT " + ", ".join(parts)


_VERSION_SQL = text(_sql())


def data_version(conn: Connection) -> tuple[object, ...] | None:
    """A value that changes whenever any row the outcome figures read is added or edited (SQLite)."""
    if conn.dialect.name != "sqlite":
        return None
    row = conn.execute(_VERSION_SQL).one()
    return tuple(row)
