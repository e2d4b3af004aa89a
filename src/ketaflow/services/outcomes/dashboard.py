"""The clinic and network outcomes dashboard: each clinic's figures with intervals, and their sum."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from ketaflow.analytics import (
    HomogeneityTest,
    MeanSummary,
    Proportion,
    homogeneity_test,
    mean_from_sums,
    proportion,
    quantile_from_counts,
)
from ketaflow.analytics.missing import ResponseBounds, response_bounds
from ketaflow.clinical.rules import ClinicalRules
from ketaflow.services.outcomes.common import (
    NETWORK,
    Bind,
    Scope,
    connection,
    memoized,
    outcome_definitions,
    resolve_scope,
)
from ketaflow.services.outcomes.gathered import Gathered, gather_live
from ketaflow.services.outcomes.summary import (
    SUMMARY_MAX_AGE,
    gather_from_summary,
    refresh_in_background,
    use_summary,
)
from ketaflow.store import outcome_queries as q
from ketaflow.store.models.base import utcnow


@dataclass(frozen=True)
class RatePerInfusion:
    """A side effect (or event) as the share of infusions in which it was charted."""

    kind: str
    rate: Proportion


@dataclass(frozen=True)
class UnitOutcomes:
    """The dashboard figures for one clinic, or for the network."""

    code: str
    name: str
    patients_treated: int
    infusions: int
    infusions_per_patient: float | None
    courses_started: int
    courses_completed: int
    courses_evaluable: int
    response: Proportion
    remission: Proportion
    dropout: Proportion
    responders_ever: int
    median_infusions_to_first_response: float | None
    days_to_first_response: MeanSummary
    side_effects: tuple[RatePerInfusion, ...]
    adverse_events: Proportion
    blood_pressure_pauses: Proportion
    recovery_minutes: MeanSummary
    # Measurement-based care (issue 17): of the courses that completed induction, the share whose
    # scheduled end-of-induction PHQ-9 came back (the questionnaire response is measured on), and
    # how far the missing ones could move the response rate (analytics/missing.py, Manski 1990).
    questionnaire_return: Proportion | None = None
    response_bounds: ResponseBounds | None = None


@dataclass(frozen=True)
class Dashboard:
    """Clinic or network outcomes; `clinics` holds each clinic for side-by-side comparison."""

    scope: str
    total: UnitOutcomes
    clinics: tuple[UnitOutcomes, ...]
    response_between_clinics: HomogeneityTest
    remission_between_clinics: HomogeneityTest
    definitions: tuple[str, ...]
    # When the figures come from a stored summary (:mod:`.summary`): the time they are as of.
    as_of: datetime | None = None


def _unit(g: Gathered, ids: Sequence[uuid.UUID], code: str, name: str) -> UnitOutcomes:
    idset = set(ids)
    cc = [g.courses[i] for i in ids if i in g.courses]
    started = sum(c.started for c in cc)
    completed = sum(c.completed for c in cc)
    evaluable = sum(c.evaluable for c in cc)
    patients = sum(g.infusions.get(i, (0, 0))[0] for i in ids)
    infusions = sum(g.infusions.get(i, (0, 0))[1] for i in ids)
    by_infusions: dict[int, int] = defaultdict(int)
    n_days = 0
    days = days_sq = 0.0
    for cid, k, n, s, s2 in g.histogram:
        if cid in idset:
            by_infusions[k] += n
            n_days, days, days_sq = n_days + n, days + s, days_sq + s2
    effects: dict[str, int] = defaultdict(int)
    for cid, kind, n, _ in g.side_effects:
        if cid in idset:
            effects[kind] += n
    rec = [g.recovery[i] for i in ids if i in g.recovery]
    return UnitOutcomes(
        code=code,
        name=name,
        patients_treated=patients,
        infusions=infusions,
        infusions_per_patient=infusions / patients if patients else None,
        courses_started=started,
        courses_completed=completed,
        courses_evaluable=evaluable,
        response=proportion(sum(c.responders for c in cc), evaluable),
        remission=proportion(sum(c.remitters for c in cc), evaluable),
        # Drop-out among courses that have finished one way or the other (not those still going on).
        dropout=proportion(sum(c.dropped_out for c in cc), completed + sum(c.dropped_out for c in cc)),
        responders_ever=n_days,
        median_infusions_to_first_response=quantile_from_counts(
            list(by_infusions), list(by_infusions.values()), 0.5
        ),
        days_to_first_response=mean_from_sums(n_days, days, days_sq),
        side_effects=tuple(RatePerInfusion(k, proportion(n, infusions)) for k, n in sorted(effects.items())),
        adverse_events=proportion(sum(g.adverse.get(i, 0) for i in ids), infusions),
        blood_pressure_pauses=proportion(sum(g.pauses.get(i, 0) for i in ids), infusions),
        recovery_minutes=mean_from_sums(
            sum(r[0] for r in rec), sum(r[1] for r in rec), sum(r[2] for r in rec)
        ),
        questionnaire_return=proportion(evaluable, completed),
        response_bounds=response_bounds(sum(c.responders for c in cc), evaluable, completed),
    )


def outcomes_dashboard(
    bind: Bind,
    *,
    clinic: str | None = None,
    clinic_ids: Sequence[uuid.UUID] | None = None,
    label: str | None = None,
    rules: ClinicalRules | None = None,
    cache: bool = True,
    summary: bool | None = None,
) -> Dashboard:
    """The clinic's (or, with clinic None, the network's) outcomes, with each clinic alongside.

    `clinic_ids` (instead of `clinic`) limits the figures to those clinics, e.g. the ones a
    user may see; their sum is the total, labelled `label`. Given an Engine on a SQLite file,
    the result is reused until the data change (:func:`.common.memoized`); `cache=False`
    always computes. `summary`: read the stored per-clinic summary when there is one for every
    clinic in scope (True), never (False), or by default only on PostgreSQL (see
    :mod:`.summary`); figures from a summary carry the time they are as of (`as_of`).
    """
    d = outcome_definitions(rules)
    scope = resolve_scope(bind, clinic) if clinic_ids is None else Scope(label or NETWORK, tuple(clinic_ids))
    with connection(bind) as conn:
        if use_summary(conn, summary):
            board = _from_summary(conn, d, scope, clinic_ids is None)
            if board is not None:
                if (
                    isinstance(bind, Engine)
                    and board.as_of is not None
                    and utcnow() - board.as_of > SUMMARY_MAX_AGE
                ):
                    refresh_in_background(bind, rules=rules)
                return board
        return memoized(
            conn,
            ("dashboard", d, scope, clinic_ids is None),
            lambda: _compute(conn, d, scope, clinic_ids is None),
            # Only on a connection of its own: a caller's session may hold uncommitted rows
            # that a rollback would take back (and their rowids be reused by other rows).
            cache=cache and isinstance(bind, Engine),
        )


def _compute(conn: Connection, d: q.OutcomeDefinitions, scope: Scope, network_label: bool) -> Dashboard:
    names = {r[0]: (r[1], r[2]) for r in q.clinics(conn)}
    return _board(gather_live(conn, d, scope.clinic_ids), names, d, scope, network_label)


def _from_summary(
    conn: Connection, d: q.OutcomeDefinitions, scope: Scope, network_label: bool
) -> Dashboard | None:
    names = {r[0]: (r[1], r[2]) for r in q.clinics(conn)}
    stored = gather_from_summary(
        conn, d, list(scope.clinic_ids) if scope.clinic_ids is not None else list(names)
    )
    if stored is None:
        return None
    g, as_of = stored
    return _board(g, names, d, scope, network_label, as_of)


def _board(
    g: Gathered,
    names: dict[uuid.UUID, tuple[str, str]],
    d: q.OutcomeDefinitions,
    scope: Scope,
    network_label: bool,
    as_of: datetime | None = None,
) -> Dashboard:
    ids = scope.clinic_ids
    members = list(ids) if ids is not None else list(names)
    per_clinic = tuple(_unit(g, [i], *names[i]) for i in members)
    total = (
        per_clinic[0]
        if ids is not None and len(per_clinic) == 1
        else _unit(g, members, NETWORK, "All clinics" if network_label else scope.label)
    )
    return Dashboard(
        scope=scope.label,
        total=total,
        clinics=per_clinic,
        response_between_clinics=homogeneity_test(
            [u.response.successes for u in per_clinic], [u.response.n for u in per_clinic]
        ),
        remission_between_clinics=homogeneity_test(
            [u.remission.successes for u in per_clinic], [u.remission.n for u in per_clinic]
        ),
        definitions=_definition_notes(d) + (() if as_of is None else (_as_of_note(as_of),)),
        as_of=as_of,
    )


def _as_of_note(as_of: datetime) -> str:
    return (
        f"Figures as of {as_of:%Y-%m-%d %H:%M} UTC: read from the stored outcome summary, which is "
        "recomputed from every record at each refresh; rows charted since then are not yet included."
    )


def _definition_notes(d: q.OutcomeDefinitions) -> tuple[str, ...]:
    return (
        f"Response: PHQ-9 at the end of induction at least {d.min_reduction_fraction:.0%} below baseline "
        f"(the first PHQ-9); remission: end-of-induction PHQ-9 of {d.remission_max_total} or less "
        "(clinical rules, scales.toml).",
        "End of induction: the first PHQ-9 answered outside an infusion within "
        f"{q.END_OF_INDUCTION_WINDOW_DAYS} days after the last induction infusion; courses on "
        f"depression protocols ({', '.join(d.depression_protocols)}) that completed the planned induction.",
        "Drop-out: courses that stopped before the planned induction with no infusion booked, among "
        "courses completed or dropped out.",
        "Intervals: 95% Wilson score intervals (proportions), Student t (means). Between clinics: Pearson "
        "chi-square test of equal proportions.",
        "Rates per infusion: share of infusions in which each side effect was charted; blood-pressure "
        "pauses: infusions with a pump pause and hypertension charted.",
        "Questionnaire return: courses that completed induction whose end-of-induction PHQ-9 came back. "
        "Response counts those only; if every non-returner had not responded (or had), the rate would be "
        "the lower (upper) bound shown (worst/best case, Manski 1990).",
    )
