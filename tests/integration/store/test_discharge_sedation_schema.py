"""Schema 0006: the sedation level on vitals, the discharge screen on discharges, positive screens kept.

Rows charted before 0006 read NULL in the new columns ("not recorded"); stepping down to 0005
and up again keeps every row, the append-only triggers and the partial amends_id indexes.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.store.migrate import current_revision, downgrade, head_revision, upgrade
from tests.factories import make_chart
from tests.integration.store.test_migrations import _guarded

NEW_COLUMNS = {
    "vital_signs": {"sedation_score"},
    "discharges": {"mental_status", "suicidal_ideation", "suicide_risk_assessment"},
}


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def _partial(engine: Engine, table: str) -> bool:
    """Whether `table`'s amends_id index holds the amendments only (WHERE amends_id IS NOT NULL)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = conn.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": f"ix_{table}_amends_id"}
            )
        else:
            sql = conn.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": f"ix_{table}_amends_id"}
            )
    return sql is not None and "amends_id IS NOT NULL" in sql.replace("(", "").replace(")", "")


def test_rows_charted_before_0006_read_not_recorded_and_survive_a_step_down(
    fresh_engine: Callable[[], Engine],
) -> None:
    engine = fresh_engine()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with Session(engine) as db:
        chart = make_chart(db)
        vital_id, session_id = chart.vital.id, chart.infusion.id
        db.commit()

    downgrade(engine, "0006_clinic_hours")
    for table, columns in NEW_COLUMNS.items():
        assert not columns & _columns(engine, table), table
        assert _guarded(engine, table) and _partial(engine, table), table
    assert "discharge_screens" not in inspect(engine).get_table_names()

    upgrade(engine)
    for table, columns in NEW_COLUMNS.items():
        assert columns <= _columns(engine, table), table
        assert _guarded(engine, table) and _partial(engine, table), table
    assert _guarded(engine, "discharge_screens") and _partial(engine, "discharge_screens")
    with Session(engine) as db:
        vital = db.get(m.VitalSign, vital_id)
        assert vital is not None and vital.systolic_mmhg == 124 and vital.sedation_score is None
        discharge = db.scalar(select(m.Discharge).where(m.Discharge.session_id == session_id))
        assert discharge is not None and discharge.recovery_score == 10
        assert (discharge.mental_status, discharge.suicidal_ideation, discharge.suicide_risk_assessment) == (
            None,
            None,
            None,
        )
