"""Outcome queries on hand-made charts whose answers are known, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.clinical import series_outcome
from ketaflow.services.outcomes import (
    dissociation_report,
    outcome_definitions,
    outcomes_dashboard,
    patient_trajectory,
)
from ketaflow.store import models as m
from ketaflow.store import outcome_queries as q
from ketaflow.store.facts import amend
from ketaflow.vocabulary import AdministrationKind, SideEffectKind
from tests.integration.analytics.outcome_charts import Clinic, clinic, course, side_effect

# (PHQ-9 before each infusion, end-of-induction PHQ-9): response and remission at their boundaries.
COMPLETED = {
    "exactly_half": ([20, 15, 12], 10),  # 50% reduction: response; 10 is not remission
    "just_short": ([20, 18, 15], 11),  # 45%: no response
    "remits": ([20, 10, 6], 4),  # 4 < 5: remission; response first seen before infusion 2
    "half_of_ten": ([10, 8, 6], 5),  # 50%: response; 5 is not remission
}


def sessions_of(db: Session, patient: m.Patient) -> list[m.InfusionSession]:
    stmt = select(m.InfusionSession).where(m.InfusionSession.patient_id == patient.id)
    return list(db.scalars(stmt.order_by(m.InfusionSession.series_number)))


@pytest.fixture
def charts(db: Session) -> tuple[Clinic, Clinic, dict[str, m.Patient]]:
    a = clinic(db)
    b = clinic(db, a.clinic.organization)
    cadss = [10, 20, 30]
    p = {name: course(db, a, before=bef, end=end, cadss=cadss) for name, (bef, end) in COMPLETED.items()}
    # Charted 12 (no response), then corrected to 10: the current value (response) must count.
    p["amended"] = course(db, a, before=[20, 16, 14], end=None, cadss=[4, 5, 6])
    wrong = q_phq9_end(db, a, p["amended"], 12)
    amend(db, wrong, reason="transcription error", by_user_id=a.nurse.id, total=10)
    p["dropped"] = course(db, a, before=[20, 18], end=None)
    p["in_progress"] = course(db, a, before=[20], end=None, booked=True)
    p["pain"] = course(db, a, before=[20, 10, 5], end=2, protocol="chronic-pain-crps")
    p["other_clinic"] = course(db, b, before=[16, 8, 7], end=3, cadss=[1, 2, 3])

    s1 = sessions_of(db, p["exactly_half"])[0]
    nausea = side_effect(db, a, s1, SideEffectKind.NAUSEA)
    amend(db, nausea, reason="was a headache", by_user_id=a.nurse.id, kind=SideEffectKind.HEADACHE)
    side_effect(db, a, sessions_of(db, p["just_short"])[0], SideEffectKind.VOMITING, adverse=True)
    paused = sessions_of(db, p["remits"])[1]
    side_effect(db, a, paused, SideEffectKind.HYPERTENSION, adverse=True)
    db.add(
        m.AdministrationEvent(
            clinic_id=a.clinic.id,
            session_id=paused.id,
            kind=AdministrationKind.PAUSE,
            occurred_at=paused.opened_at,
            cumulative_mg=10,
        )
    )
    db.flush()
    return a, b, p


def q_phq9_end(db: Session, c: Clinic, patient: m.Patient, total: int) -> m.QuestionnaireResponse:
    from datetime import timedelta

    from tests.integration.analytics.outcome_charts import phq9

    last = sessions_of(db, patient)[-1].opened_at
    return phq9(db, c, patient, total, last + timedelta(days=7))


def test_it_counts_courses_with_the_rules_definitions(db: Session, charts) -> None:  # type: ignore[no-untyped-def]
    a, b, p = charts
    d = outcome_definitions()
    counts = {c.clinic_id: c for c in q.course_counts(db.connection(), d, [a.clinic.id, b.clinic.id])}
    # The independent computation: the clinical rules' series_outcome on (baseline, end).
    expected = [series_outcome("phq9", [bef[0], end]) for bef, end in COMPLETED.values()]
    expected.append(series_outcome("phq9", [20, 10]))  # the amended course
    ca = counts[a.clinic.id]
    assert (ca.started, ca.completed, ca.dropped_out, ca.evaluable) == (7, 5, 1, 5)
    assert ca.responders == sum(o.response for o in expected) == 4
    assert ca.remitters == sum(bool(o.remission) for o in expected) == 1
    cb = counts[b.clinic.id]
    assert (cb.started, cb.completed, cb.evaluable, cb.responders, cb.remitters) == (1, 1, 1, 1, 1)


def test_it_finds_the_first_response(db: Session, charts) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = charts
    rows = q.infusions_to_response_histogram(
        db.connection(), outcome_definitions(), [a.clinic.id, b.clinic.id]
    )
    by = {(cid, k): (n, days) for cid, k, n, days, _ in rows}
    # Before infusion 2 counts one infusion; a response first seen at the end counts all three.
    assert by[(a.clinic.id, 1)][0] == 1
    assert by[(a.clinic.id, 3)][0] == 3  # exactly_half, half_of_ten, amended
    assert by[(b.clinic.id, 1)][0] == 1
    assert by[(a.clinic.id, 1)][1] == pytest.approx(3 - 5 / 1440, abs=1e-6)


def test_it_rates_side_effects_pauses_and_recovery(db: Session, charts) -> None:  # type: ignore[no-untyped-def]
    a, _, _ = charts
    conn = db.connection()
    effects = {kind: (n, ae) for _, kind, n, ae in q.side_effect_counts(conn, [a.clinic.id])}
    assert effects == {"headache": (1, 0), "vomiting": (1, 1), "hypertension": (1, 1)}
    assert q.adverse_event_infusions(conn, [a.clinic.id]) == {a.clinic.id: 2}
    assert q.blood_pressure_pauses(conn, [a.clinic.id]) == {a.clinic.id: 1}
    n, total, total_sq = q.recovery_minutes_sums(conn, [a.clinic.id])[a.clinic.id]
    assert n == len(a.recovery_minutes)
    assert total == pytest.approx(sum(a.recovery_minutes), abs=1e-3)
    assert total_sq == pytest.approx(sum(x * x for x in a.recovery_minutes), rel=1e-6)


def test_it_averages_cadss_over_the_first_three_infusions(db: Session, charts) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = charts
    rows = q.dissociation_rows(
        db.connection(), outcome_definitions(), [a.clinic.id, b.clinic.id], infusions=3
    )
    assert Counter(round(r[0], 9) for r in rows) == Counter({20.0: 4, 5.0: 1, 2.0: 1})
    assert sum(r[2] for r in rows) == 5


def test_it_builds_the_dashboard_for_one_clinic(db: Session, charts) -> None:  # type: ignore[no-untyped-def]
    a, _, _ = charts
    board = outcomes_dashboard(db, clinic=a.clinic.code)
    t = board.total
    assert t.code == a.clinic.code
    assert (t.response.successes, t.response.n) == (4, 5)
    assert (t.dropout.successes, t.dropout.n) == (1, 6)
    assert t.infusions == 5 * 3 + 2 + 1 + 3  # every protocol counts as an infusion
    assert t.median_infusions_to_first_response == 3.0
    rates = {r.kind: r.rate for r in t.side_effects}
    assert rates["headache"].successes == 1 and rates["headache"].n == t.infusions


def test_it_refuses_an_unknown_clinic(db: Session, charts) -> None:  # type: ignore[no-untyped-def]
    from ketaflow.errors import NotFound

    with pytest.raises(NotFound, match="No clinic has the code or name"):
        outcomes_dashboard(db, clinic="nowhere")


def test_it_draws_one_patients_trajectory(db: Session, charts) -> None:  # type: ignore[no-untyped-def]
    _, _, p = charts
    traj = patient_trajectory(db, mrn=p["remits"].mrn)
    phq = next(t for t in traj.instruments if t.instrument == "phq9")
    assert [pt.total for pt in phq.points] == [20, 10, 6, 4]
    assert [pt.series_number for pt in phq.points] == [1, 2, 3, None]
    assert phq.response is True and phq.remission is True
    assert phq.infusions_to_first_response == 1
    assert phq.days_to_first_response == pytest.approx(3 - 5 / 1440, abs=1e-6)
    assert len(traj.infusions) == 3
    cadss = next(t for t in traj.instruments if t.instrument == "cadss")
    assert cadss.response is None
    assert patient_trajectory(db, patient_id=p["remits"].id) == traj


def test_it_says_when_too_few_patients_for_the_association(db: Session, charts) -> None:  # type: ignore[no-untyped-def]
    from ketaflow.errors import InvalidInput

    a, _, _ = charts
    with pytest.raises(InvalidInput, match="too few"):
        dissociation_report(db, clinic=a.clinic.code)


def test_it_is_not_fooled_by_an_unknown_patient(db: Session) -> None:
    from ketaflow.errors import NotFound

    with pytest.raises(NotFound, match="MRN"):
        patient_trajectory(db, mrn=f"none-{uuid.uuid4().hex[:6]}")
