"""Outcomes use cases: the clinic and network dashboard, the dissociation question, one patient.

Each function takes a SQLAlchemy ``Session`` or ``Engine`` and returns frozen dataclasses
ready to render (CLI, JSON API, web pages). SQL aggregates live in
:mod:`ketaflow.store.outcome_queries`, statistics in :mod:`ketaflow.analytics`; response and
remission come from the clinical rules (:func:`ketaflow.clinical.series_outcome` and
``scales.toml``), never from numbers written here.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from ketaflow.analytics import (
    CADSS_INFUSIONS,
    DissociationAssociation,
    HomogeneityTest,
    MeanSummary,
    Proportion,
    dissociation_response_association,
    homogeneity_test,
    mean_from_sums,
    proportion,
    quantile_from_counts,
)
from ketaflow.clinical import list_protocols, series_outcome
from ketaflow.clinical.rules import ClinicalRules, default_rules
from ketaflow.errors import InvalidInput, NotFound
from ketaflow.store import outcome_queries as q

Bind = Session | Engine | Connection
NETWORK = "network"


@contextmanager
def _connection(bind: Bind) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    elif isinstance(bind, Session):
        yield bind.connection()
    else:
        with bind.connect() as conn:
            yield conn


def outcome_definitions(rules: ClinicalRules | None = None) -> q.OutcomeDefinitions:
    """Response and remission (PHQ-9) and the depression protocols, read from the clinical rules."""
    rules = rules or default_rules()
    phq9 = rules.instrument("phq9")
    if phq9.remission is None:  # pragma: no cover - the packaged rules define it
        raise InvalidInput("The clinical rules define no PHQ-9 remission cut-off.")
    protocols = tuple(
        p.key
        for p in list_protocols(rules)
        if p.key.startswith("depression") or "depress" in p.indication.lower()
    )
    return q.OutcomeDefinitions(protocols, rules.response.min_reduction_fraction, phq9.remission.max_total)


@dataclass(frozen=True)
class Scope:
    """Which clinics a figure covers: one clinic, or the whole network (clinic_ids None)."""

    label: str
    clinic_ids: tuple[uuid.UUID, ...] | None


def resolve_scope(bind: Bind, clinic: str | None) -> Scope:
    """The clinic named by code or name (case-insensitive), or the network when `clinic` is None."""
    if clinic is None:
        return Scope(NETWORK, None)
    with _connection(bind) as conn:
        rows = q.clinics(conn)
    wanted = clinic.strip().lower()
    found = [r for r in rows if wanted in (r[1].lower(), r[2].lower())]
    if not found:
        codes = ", ".join(r[1] for r in rows) or "none"
        raise NotFound(f"No clinic has the code or name {clinic!r}; the clinics are: {codes}.")
    return Scope(f"{found[0][1]} {found[0][2]}", tuple(r[0] for r in found))


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


@dataclass(frozen=True)
class Dashboard:
    """Clinic or network outcomes; `clinics` holds each clinic for side-by-side comparison."""

    scope: str
    total: UnitOutcomes
    clinics: tuple[UnitOutcomes, ...]
    response_between_clinics: HomogeneityTest
    remission_between_clinics: HomogeneityTest
    definitions: tuple[str, ...]


@dataclass(frozen=True)
class _Gathered:
    names: dict[uuid.UUID, tuple[str, str]]
    courses: dict[uuid.UUID, q.CourseCounts]
    histogram: list[tuple[uuid.UUID, int, int, float, float]]
    infusions: dict[uuid.UUID, tuple[int, int]]
    side_effects: list[tuple[uuid.UUID, str, int, int]]
    adverse: dict[uuid.UUID, int]
    pauses: dict[uuid.UUID, int]
    recovery: dict[uuid.UUID, tuple[int, float, float]]


def _unit(g: _Gathered, ids: Sequence[uuid.UUID], code: str, name: str) -> UnitOutcomes:
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
    )


def outcomes_dashboard(
    bind: Bind, *, clinic: str | None = None, rules: ClinicalRules | None = None
) -> Dashboard:
    """The clinic's (or, with clinic None, the network's) outcomes, with each clinic alongside."""
    d = outcome_definitions(rules)
    scope = resolve_scope(bind, clinic)
    ids = scope.clinic_ids
    with _connection(bind) as conn:
        names = {r[0]: (r[1], r[2]) for r in q.clinics(conn)}
        summary = q.course_summary(conn, d, ids)
        g = _Gathered(
            names=names,
            courses={c.clinic_id: c for c in summary.counts},
            histogram=summary.first_responses,
            infusions=q.infusion_counts(conn, ids),
            side_effects=q.side_effect_counts(conn, ids),
            adverse=q.adverse_event_infusions(conn, ids),
            pauses=q.blood_pressure_pauses(conn, ids),
            recovery=q.recovery_minutes_sums(conn, ids),
        )
    members = list(ids) if ids is not None else list(names)
    per_clinic = tuple(_unit(g, [i], *names[i]) for i in members)
    total = (
        per_clinic[0]
        if ids is not None and len(per_clinic) == 1
        else _unit(g, members, NETWORK, "All clinics")
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
        definitions=_definition_notes(d),
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
    )


@dataclass(frozen=True)
class DemoTruth:
    """What the demo generator was told to produce (present only on a demo database)."""

    response_fraction: float
    log_odds_response_per_sd_cadss: float
    response_rate_in_ci: bool
    association_in_ci: bool


@dataclass(frozen=True)
class DissociationReport:
    """The open question answered with the uncertainty shown, plus the ground truth on demo data."""

    scope: str
    association: DissociationAssociation
    response: Proportion
    statement: str
    demo_truth: DemoTruth | None


def dissociation_report(
    bind: Bind, *, clinic: str | None = None, rules: ClinicalRules | None = None
) -> DissociationReport:
    """Association of mean peak CADSS (first infusions) with response, adjusted for baseline PHQ-9."""
    d = outcome_definitions(rules)
    scope = resolve_scope(bind, clinic)
    with _connection(bind) as conn:
        rows = q.dissociation_rows(conn, d, scope.clinic_ids, infusions=CADSS_INFUSIONS)
        truth = q.demo_ground_truth(conn)
    if len(rows) < 10:
        raise InvalidInput(
            f"Only {len(rows)} patients completed induction with CADSS at the first "
            f"{CADSS_INFUSIONS} infusions; too few to estimate the association."
        )
    cadss, base, resp = zip(*rows, strict=True)
    a = dissociation_response_association(cadss, base, resp)
    response = proportion(int(sum(resp)), len(resp))
    direction = "higher" if a.log_odds_per_sd_cadss > 0 else "lower"
    clear = a.ci_low > 0 or a.ci_high < 0
    statement = (
        f"Among {a.patients} patients ({a.responders} responders), each SD ({a.cadss_sd_points:.1f} points) "
        f"more mean peak CADSS over the first {a.infusions_averaged} infusions went with {direction} odds of "
        f"response at the end of induction: odds ratio {a.odds_ratio_per_sd_cadss:.2f} (95% CI "
        f"{a.odds_ratio_ci_low:.2f} to {a.odds_ratio_ci_high:.2f}), adjusted for baseline PHQ-9"
        + ("." if clear else "; the interval includes no association.")
    )
    demo = None
    if truth is not None:
        beta = float(truth["log_odds_response_per_sd_cadss"])
        rate = float(truth["response_fraction"])
        demo = DemoTruth(
            response_fraction=rate,
            log_odds_response_per_sd_cadss=beta,
            response_rate_in_ci=bool(
                response.ci_low is not None and response.ci_low <= rate <= (response.ci_high or 0)
            ),
            association_in_ci=a.ci_low <= beta <= a.ci_high,
        )
    return DissociationReport(scope.label, a, response, statement, demo)


# --- one patient --------------------------------------------------------------------------------


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
    with _connection(bind) as conn:
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
    if instrument in _NO_RESPONSE:
        return InstrumentTrajectory(instrument, points, None, None, None, None, None)
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
    )


def as_plain(value: Any) -> Any:
    """A dataclass tree as JSON-ready dicts (for the API); UUIDs become strings."""
    from dataclasses import asdict, is_dataclass

    def fix(v: Any) -> Any:
        if isinstance(v, uuid.UUID):
            return str(v)
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [fix(x) for x in v]
        return v

    return fix(asdict(value) if is_dataclass(value) and not isinstance(value, type) else value)


# --- de-identified export -----------------------------------------------------------------------

# Dates are shifted per patient by a whole number of days drawn uniformly from this range, so
# intervals within a patient stay exact while calendar dates no longer point at a visit.
DATE_SHIFT_MAX_DAYS = 365
# HIPAA Safe Harbor (45 CFR 164.514(b)(2)(i)(C)): ages over 89 are reported as one category.
AGE_TOP_CODE_YEARS = 90


@dataclass(frozen=True)
class ExportResult:
    """The files written (path, rows) by a de-identified export."""

    directory: str
    files: tuple[tuple[str, int], ...]


class _Pseudonyms:
    """A random study id and date offset per patient, consistent across one export's tables."""

    def __init__(self) -> None:
        import secrets

        self._rng = secrets.SystemRandom()
        self._ids: dict[uuid.UUID, tuple[str, int]] = {}
        self._secrets = secrets

    def get(self, patient_id: uuid.UUID) -> tuple[str, int]:
        if patient_id not in self._ids:
            study_id = "S" + self._secrets.token_hex(6)
            shift = self._rng.randint(-DATE_SHIFT_MAX_DAYS, DATE_SHIFT_MAX_DAYS)
            self._ids[patient_id] = (study_id, shift)
        return self._ids[patient_id]

    def day(self, patient_id: uuid.UUID, at: datetime | None) -> Any:
        from datetime import timedelta

        if at is None:
            return None
        return (at + timedelta(days=self.get(patient_id)[1])).date()


def export_deidentified(bind: Bind, out_dir: str | Any, *, fmt: str = "csv") -> ExportResult:
    """Write de-identified outcome tables (patients, courses, questionnaires, infusions) to `out_dir`.

    No names, MRN, contact details, addresses, exact birth dates or internal ids: each patient
    gets a random study id and a random date shift (whole days, up to a year either way),
    the same in every table of this export and different in the next. Ages are whole years
    at the first infusion, top-coded at 90. Times of day are dropped (dates only).
    """
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if fmt not in ("csv", "parquet"):
        raise InvalidInput(f"The export format must be csv or parquet; got {fmt!r}.")
    d = outcome_definitions()
    with _connection(bind) as conn:
        patients = q.export_patients(conn)
        courses = q.export_courses(conn, d)
        answers = q.export_questionnaires(conn)
        infusions = q.export_infusions(conn)
    ids = _Pseudonyms()
    for row in patients:
        ids.get(row[0])

    def age(dob: date, first: datetime) -> int:
        years = first.year - dob.year - ((first.month, first.day) < (dob.month, dob.day))
        return min(years, AGE_TOP_CODE_YEARS)

    tables: dict[str, list[dict[str, Any]]] = {
        "patients": [
            {"study_id": ids.get(p[0])[0], "clinic": p[1], "sex": str(p[2]), "age_years": age(p[3], p[4])}
            for p in patients
        ],
        "courses": [
            {
                "study_id": ids.get(c[0])[0],
                "protocol": c[1],
                "induction_infusions": int(c[2]),
                "first_infusion_date": ids.day(c[0], c[3]),
                "last_induction_date": ids.day(c[0], c[4]),
                "baseline_phq9": c[5],
                "end_of_induction_phq9": c[6],
                "end_of_induction_date": ids.day(c[0], c[7]),
                "completed_induction": bool(c[8]),
                "dropped_out": bool(c[9]),
                "response": bool(c[11]) if c[10] else None,
                "remission": bool(c[12]) if c[10] else None,
            }
            for c in courses
        ],
        "questionnaires": [
            {
                "study_id": ids.get(a[0])[0],
                "instrument": str(a[1]),
                "total": int(a[2]),
                "date": ids.day(a[0], a[3]),
                "before_infusion": a[4],
            }
            for a in answers
        ],
        "infusions": [
            {
                "study_id": ids.get(i[0])[0],
                "series_number": int(i[1]),
                "phase": str(i[2]),
                "date": ids.day(i[0], i[3]),
                "dose_mg_per_kg": i[4],
                "side_effects": int(i[5]),
                "adverse_event": bool(i[6]),
            }
            for i in infusions
        ],
    }
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in tables.items():
        # Order by the random study id: row order by internal id would link one export to the next.
        rows.sort(key=lambda r: r["study_id"])
        table = pa.Table.from_pylist(rows) if rows else pa.table({})
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            pa_csv.write_csv(table, path)
        else:
            pq.write_table(table, path)
        written.append((str(path), len(rows)))
    return ExportResult(str(folder), tuple(written))
