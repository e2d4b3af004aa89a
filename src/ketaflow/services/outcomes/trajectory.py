"""One patient's questionnaires across the series, with response and remission by each instrument."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from ketaflow.clinical import series_outcome
from ketaflow.clinical.rules import ClinicalRules, default_rules
from ketaflow.clinical.scales import max_total
from ketaflow.errors import InvalidInput, NotFound
from ketaflow.services.outcomes.common import (
    Bind,
    connection,
)
from ketaflow.store import outcome_queries as q


@dataclass(frozen=True)
class ScorePoint:
    """One questionnaire total; `series_number` is the infusion it preceded (None: outside an infusion)."""

    answered_at: datetime
    total: int
    series_number: int | None
    phase: str | None


@dataclass(frozen=True)
class InstrumentTrajectory:
    """One instrument over the series, with response and remission by its published definitions."""

    instrument: str
    points: tuple[ScorePoint, ...]
    response: bool | None
    remission: bool | None
    reduction_fraction: float | None
    infusions_to_first_response: int | None
    days_to_first_response: float | None
    title: str = ""
    max_total: int | None = None
    # Response and remission as the clinical rules define them, with their sources (None: no definition).
    definition: str | None = None
    response_at_or_below: float | None = None  # the total that meets response (baseline x (1 - fraction))
    remission_at_or_below: int | None = None


@dataclass(frozen=True)
class InfusionMark:
    series_number: int
    phase: str
    at: datetime
    protocol_code: str | None


@dataclass(frozen=True)
class PatientTrajectory:
    """A patient's questionnaires across the series, with the infusion dates marked."""

    patient_id: uuid.UUID
    mrn: str
    infusions: tuple[InfusionMark, ...]
    instruments: tuple[InstrumentTrajectory, ...]


# Dissociation and suicide-risk screens are charted over time but have no response definition.
_NO_RESPONSE = {"cadss", "cssrs_screen"}


def patient_trajectory(
    bind: Bind,
    *,
    mrn: str | None = None,
    patient_id: uuid.UUID | None = None,
    rules: ClinicalRules | None = None,
) -> PatientTrajectory:
    """Every questionnaire the patient (by MRN or by id) answered, per instrument, with outcomes."""
    rules = rules or default_rules()
    if (mrn is None) == (patient_id is None):
        raise InvalidInput("Name the patient by MRN or by id, not both and not neither.")
    with connection(bind) as conn:
        if patient_id is not None:
            found = q.patient_by_id(conn, patient_id)
            if not found:
                raise NotFound("No such patient.")
        else:
            assert mrn is not None  # narrowed above
            found = q.patients_by_mrn(conn, mrn.strip())
            if not found:
                raise NotFound(f"No patient has the MRN {mrn!r}.")
            if len(found) > 1:
                raise InvalidInput(f"MRN {mrn!r} belongs to patients in more than one organization.")
        pid, _, the_mrn = found[0]
        answers = q.patient_questionnaires(conn, pid)
        sessions = q.patient_infusions(conn, pid)
    marks = tuple(InfusionMark(int(s[0]), str(s[1]), s[2], s[3]) for s in sessions)
    grouped: dict[str, list[ScorePoint]] = defaultdict(list)
    for inst, total, at, series, phase in answers:
        grouped[str(inst)].append(ScorePoint(at, int(total), series, None if phase is None else str(phase)))
    return PatientTrajectory(
        pid,
        the_mrn,
        marks,
        tuple(_trajectory(k, tuple(v), marks, rules) for k, v in sorted(grouped.items())),
    )


def _trajectory(
    instrument: str,
    points: tuple[ScorePoint, ...],
    marks: tuple[InfusionMark, ...],
    rules: ClinicalRules,
) -> InstrumentTrajectory:
    title, top, definition = _describe(instrument, rules)
    if instrument in _NO_RESPONSE:
        return InstrumentTrajectory(instrument, points, None, None, None, None, None, title, top, None)
    outcome = series_outcome(instrument, [p.total for p in points], rules)
    first = outcome.first_response_index
    n_inf = days = None
    if first is not None:
        hit = points[first]
        # A score charted before infusion k reflects infusions 1..k-1; one outside an infusion
        # reflects every infusion given before it.
        before = sum(1 for mark in marks if mark.at < hit.answered_at)
        n_inf = hit.series_number - 1 if hit.series_number is not None else before
        if marks:
            days = (hit.answered_at - marks[0].at).total_seconds() / 86400
    return InstrumentTrajectory(
        instrument,
        points,
        outcome.response,
        outcome.remission,
        outcome.reduction_fraction,
        n_inf,
        days,
        title,
        top,
        definition,
        None
        if not points or points[0].total <= 0
        else points[0].total * (1 - rules.response.min_reduction_fraction),
        _remission_cutoff(instrument, rules),
    )


def _remission_cutoff(instrument: str, rules: ClinicalRules) -> int | None:
    inst = rules.instrument(instrument)
    return None if inst.remission is None else inst.remission.max_total


def _describe(instrument: str, rules: ClinicalRules) -> tuple[str, int | None, str | None]:
    """The instrument's title, highest total and its response/remission definitions (from the rules)."""
    try:
        inst = rules.instrument(instrument)
    except (KeyError, InvalidInput):
        return instrument, None, None
    top = max_total(inst)
    if instrument in _NO_RESPONSE:
        return inst.title, top, None
    text = (
        f"Response: a total at least {rules.response.min_reduction_fraction:.0%} below the first "
        f"({rules.response.source})"
    )
    if inst.remission is not None:
        text += f"; remission: a total of {inst.remission.max_total} or less ({inst.remission.source})"
    return inst.title, top, text + "."
