"""A corrected questionnaire answer changes the outcome figures: they read the current (corrected) view.

Every outcome query reads current rows (store/outcome_queries: `current_rows`, `current_phq9`,
`not_amended`); here a PHQ-9 whose answers are corrected through the correction service moves a
patient from "no response" to "response", in their own trajectory and in the clinic's counts.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.services.auth import CurrentUser
from ketaflow.services.corrections import correct_questionnaire
from ketaflow.services.outcomes import outcome_definitions, patient_trajectory
from ketaflow.store import models as m
from ketaflow.store import outcome_queries as q
from ketaflow.vocabulary import Instrument, Respondent, Role
from tests.integration.analytics.outcome_charts import clinic, course

CHARTED = [2, 2, 2, 2, 1, 1, 1, 1, 0]  # total 12: 40% below the baseline of 20, short of response
CORRECTED = [1, 1, 1, 2, 1, 1, 1, 1, 0]  # total 9: 55% below 20, a response


def test_a_corrected_phq9_changes_the_trajectory_and_the_response(db: Session) -> None:
    a = clinic(db)
    patient = course(db, a, before=[20, 16, 14], end=None)
    last = db.scalars(
        select(m.InfusionSession.opened_at)
        .where(m.InfusionSession.patient_id == patient.id)
        .order_by(m.InfusionSession.opened_at.desc())
    ).first()
    assert last is not None
    end = m.QuestionnaireResponse(
        clinic_id=a.clinic.id,
        patient_id=patient.id,
        instrument=Instrument.PHQ9,
        answers=CHARTED,
        total=sum(CHARTED),
        respondent=Respondent.PATIENT,
        answered_at=last + timedelta(days=7),
        for_date=(last + timedelta(days=7)).date(),
    )
    db.add(end)
    db.flush()
    d = outcome_definitions()

    def phq9() -> tuple[list[int], bool | None, float | None]:
        (t,) = [
            i for i in patient_trajectory(db, patient_id=patient.id).instruments if i.instrument == "phq9"
        ]
        return [p.total for p in t.points], t.response, t.reduction_fraction

    def responders() -> int:
        (counts,) = q.course_counts(db.connection(), d, [a.clinic.id])
        return int(counts.responders)

    assert phq9() == ([20, 16, 14, 12], False, pytest.approx(8 / 20))
    assert responders() == 0

    psychiatrist = CurrentUser(a.psychiatrist, None, {str(a.clinic.id): {Role.PSYCHIATRIST}})  # type: ignore[arg-type]
    done = correct_questionnaire(
        db,
        psychiatrist,
        patient.id,
        end.id,
        answers=CORRECTED,
        reason="the patient ticked 'more than half the days' for items 1-3 by mistake",
        now=last + timedelta(days=8),
    )
    assert done.response.total == 9

    # Independent reference: (20 - 9) / 20 = 0.55, at least the 50% the rules call a response.
    assert phq9() == ([20, 16, 14, 9], True, pytest.approx(11 / 20))
    assert responders() == 1
    # The charted answers are still there, unchanged: the correction is a new row.
    assert db.get(m.QuestionnaireResponse, end.id).total == 12  # type: ignore[union-attr]
