"""Row counts per table and per clinic: what a database holds, at a glance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from ketaflow.store import models as m


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows in every ketaflow table, by table name."""
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in sorted(m.Base.metadata.tables.items())
        }


def clinic_counts(engine: Engine) -> list[dict[str, Any]]:
    """For each clinic: its code and name, and the rows it owns in each clinic-owned table."""
    tables = {name: t for name, t in m.Base.metadata.tables.items() if "clinic_id" in t.c}
    with engine.connect() as conn:
        clinics = conn.execute(
            select(m.Clinic.id, m.Clinic.code, m.Clinic.name).order_by(m.Clinic.code)
        ).all()
        per_table: dict[str, dict[Any, int]] = {
            name: {
                row[0]: int(row[1])
                for row in conn.execute(select(t.c.clinic_id, func.count()).group_by(t.c.clinic_id))
            }
            for name, t in sorted(tables.items())
        }
    return [
        {
            "code": code,
            "name": name,
            "counts": {table: counts.get(cid, 0) for table, counts in per_table.items()},
        }
        for cid, code, name in clinics
    ]
