"""The patient's chart shows each charted fact as corrected, never the superseded original."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.services import patients
from ketaflow.services.auth import CurrentUser
from ketaflow.store import models as m
from ketaflow.store.facts import amend
from ketaflow.vocabulary import Role
from tests.factories import T0, make_chart


def test_a_corrected_dose_discharge_and_resolved_side_effect_show_as_corrected(db: Session) -> None:
    world = make_chart(db)
    who = CurrentUser(world.nurse, None, {str(world.clinic.id): {Role.NURSE}})  # type: ignore[arg-type]
    order = db.scalars(select(m.DoseOrder).where(m.DoseOrder.session_id == world.infusion.id)).one()
    discharge = db.scalars(select(m.Discharge).where(m.Discharge.session_id == world.infusion.id)).one()
    effect = db.scalars(select(m.SideEffect).where(m.SideEffect.session_id == world.infusion.id)).one()

    before = patients.chart(db, who, world.patient.id).infusions
    assert [(i.dose_mg, i.side_effects) for i in before] == [(35, 1)]

    amend(db, order, reason="weight re-measured", by_user_id=world.psychiatrist.id, dose_mg=33.5)
    later = T0 + timedelta(minutes=125)
    amend(db, discharge, reason="time typed wrong", by_user_id=world.nurse.id, discharged_at=later)
    resolved = amend(db, effect, reason="resolved", by_user_id=world.nurse.id, resolved_at=T0)
    amend(db, resolved, reason="resolved later", by_user_id=world.nurse.id, resolved_at=later)
    db.flush()

    (line,) = patients.chart(db, who, world.patient.id).infusions
    assert line.dose_mg == 33.5  # the correction, not the original 35
    assert line.dose_mg_per_kg == 0.5
    assert line.discharged_at == later
    assert line.side_effects == 1  # one side effect, however many times its entry was amended
