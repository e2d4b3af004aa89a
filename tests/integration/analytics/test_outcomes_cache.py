"""The dashboard is reused while nothing it reads changed, and recomputed as soon as anything did."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.services.outcomes import outcomes_dashboard
from ketaflow.store import models as m
from ketaflow.store import outcome_queries as q
from ketaflow.store.migrate import upgrade
from ketaflow.store.versioning import apply_edit
from ketaflow.vocabulary import AppointmentStatus
from tests.integration.analytics.outcome_charts import clinic, course, phq9


def test_it_reuses_the_dashboard_until_a_row_is_added_or_edited(fresh_engine: Callable[[], Engine]) -> None:
    engine = fresh_engine()
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as db:
        a = clinic(db)
        first = course(db, a, before=[20, 15, 12], end=10)
        dropped = course(db, a, before=[20, 18], end=None, booked=True)
        db.commit()

    before = outcomes_dashboard(engine)
    again = outcomes_dashboard(engine)
    cached = engine.dialect.name == "sqlite"
    assert (again is before) == cached  # PostgreSQL: no cheap data version, always computed
    assert outcomes_dashboard(engine, cache=False) is not before
    assert before.total.dropout.successes == 0  # an infusion is still booked: not a drop-out

    with Session(engine, expire_on_commit=False) as db:  # an appended fact: a new PHQ-9
        answered = db.scalars(
            select(m.QuestionnaireResponse.answered_at)
            .where(m.QuestionnaireResponse.patient_id == first.id)
            .order_by(m.QuestionnaireResponse.answered_at.desc())
        ).first()
        assert answered is not None
        phq9(db, a, first, 3, answered + timedelta(days=1))
        db.commit()
    after_fact = outcomes_dashboard(engine)
    assert after_fact is not before

    with Session(engine, expire_on_commit=False) as db:  # an edited record: the booking cancelled
        booking = db.scalars(
            select(m.Appointment).where(
                m.Appointment.patient_id == dropped.id, m.Appointment.status == AppointmentStatus.BOOKED
            )
        ).one()
        apply_edit(db, booking, expected_version=booking.version, status=AppointmentStatus.CANCELLED)
        db.commit()
    after_edit = outcomes_dashboard(engine)
    assert after_edit is not after_fact
    assert after_edit.total.dropout.successes == 1  # the cancelled series now counts as a drop-out


def test_the_data_version_moves_with_each_kind_of_change(fresh_engine: Callable[[], Engine]) -> None:
    engine = fresh_engine()
    upgrade(engine)
    with engine.connect() as conn:
        empty = q.data_version(conn)
    if engine.dialect.name != "sqlite":
        assert empty is None
        return
    with Session(engine, expire_on_commit=False) as db:
        a = clinic(db)
        course(db, a, before=[20, 15], end=None)
        db.commit()
        with engine.connect() as conn:
            filled = q.data_version(conn)
        a.clinic.name = a.clinic.name + " (renamed)"
        db.commit()
    with engine.connect() as conn:
        renamed = q.data_version(conn)
    assert len({empty, filled, renamed}) == 3
