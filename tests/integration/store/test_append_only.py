"""Clinical facts are append-only: the database itself refuses UPDATE and DELETE."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, func, select, text
from sqlalchemy.orm import Session

from ketaflow.errors import ClinicalRecordImmutable, Conflict, InvalidInput
from ketaflow.store import models as m
from ketaflow.store.facts import amend, current
from tests.factories import make_chart, make_checkpoint

APPEND_ONLY = m.append_only_tables()


def test_it_lists_every_clinical_fact_table() -> None:
    expected = {
        "vital_signs",
        "administration_events",
        "questionnaire_responses",
        "side_effects",
        "discharges",
        "dose_orders",
        "audit_events",
    }
    assert expected <= set(APPEND_ONLY)


@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("statement", ["UPDATE {t} SET id = id", "DELETE FROM {t}"])
def test_it_refuses_raw_sql_changes(owner_db: Session, table: str, statement: str) -> None:
    """Even from the tables' owner (the app's own role is refused before the trigger runs:
    tests/integration/store/test_db_roles.py)."""
    make_chart(owner_db)
    make_checkpoint(owner_db)  # chain_checkpoints is append-only too
    assert owner_db.scalar(text(f"SELECT count(*) FROM {table}")) >= 1
    with pytest.raises(exc.DBAPIError, match="append-only"), owner_db.begin_nested():
        owner_db.execute(text(statement.format(t=table)))
    # The rows are still there, exactly as charted.
    assert owner_db.scalar(text(f"SELECT count(*) FROM {table}")) >= 1


def test_it_refuses_orm_update_with_a_plain_sentence(db: Session) -> None:
    chart = make_chart(db)
    chart.vital.systolic_mmhg = 200
    with pytest.raises(ClinicalRecordImmutable, match="record an amendment"):
        db.flush()
    db.rollback()


def test_it_refuses_orm_delete(db: Session) -> None:
    chart = make_chart(db)
    db.delete(chart.vital)
    with pytest.raises(ClinicalRecordImmutable, match="cannot be deleted"):
        db.flush()
    db.rollback()


def test_it_records_an_amendment_and_keeps_the_original(db: Session) -> None:
    chart = make_chart(db)
    fixed = amend(db, chart.vital, reason="typo: 142 not 124", by_user_id=chart.nurse.id, systolic_mmhg=142)
    assert fixed.amends_id == chart.vital.id
    assert fixed.systolic_mmhg == 142
    assert fixed.diastolic_mmhg == chart.vital.diastolic_mmhg
    db.expire_all()
    original = db.get(m.VitalSign, chart.vital.id)
    assert original is not None and original.systolic_mmhg == 124
    rows = db.scalars(current(m.VitalSign).where(m.VitalSign.session_id == chart.infusion.id)).all()
    assert [r.id for r in rows] == [fixed.id]
    total = db.scalar(
        select(func.count()).select_from(m.VitalSign).where(m.VitalSign.patient_id == chart.patient.id)
    )
    assert total == 2


def test_it_refuses_to_amend_a_superseded_entry(db: Session) -> None:
    chart = make_chart(db)
    amend(db, chart.vital, reason="first fix", by_user_id=chart.nurse.id, heart_rate_bpm=80)
    with pytest.raises(Conflict, match="already been corrected"):
        amend(db, chart.vital, reason="second fix", by_user_id=chart.nurse.id, heart_rate_bpm=81)


@pytest.mark.parametrize("reason", ["", "   "])
def test_it_requires_a_reason(db: Session, reason: str) -> None:
    chart = make_chart(db)
    with pytest.raises(InvalidInput, match="needs a reason"):
        amend(db, chart.vital, reason=reason, by_user_id=chart.nurse.id, heart_rate_bpm=80)


def test_it_refuses_unknown_or_identity_fields(db: Session) -> None:
    chart = make_chart(db)
    with pytest.raises(InvalidInput, match="no field named"):
        amend(db, chart.vital, reason="x", by_user_id=None, pulse=80)
    with pytest.raises(InvalidInput, match="cannot change patient_id"):
        amend(db, chart.vital, reason="x", by_user_id=None, patient_id=chart.vital.id)


def test_it_resolves_a_side_effect_by_amendment(db: Session) -> None:
    chart = make_chart(db)
    effect = db.scalars(select(m.SideEffect).where(m.SideEffect.session_id == chart.infusion.id)).one()
    resolved = amend(db, effect, reason="resolved", by_user_id=chart.nurse.id, resolved_at=effect.onset_at)
    rows = db.scalars(current(m.SideEffect).where(m.SideEffect.session_id == chart.infusion.id)).all()
    assert [r.id for r in rows] == [resolved.id]
    assert rows[0].resolved_at == effect.onset_at
