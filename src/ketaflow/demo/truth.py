"""What the generator drew for the courses the outcome analytics measure (regenerated, no database).

The analytics estimate the response rate among depression courses that completed the
planned induction and have an end-of-induction PHQ-9 (the first PHQ-9 answered outside an
infusion within `END_OF_INDUCTION_WINDOW_DAYS` of the last induction infusion). This module
regenerates a network's rows (a pure function of its settings) with each patient's outcome
draws, picks those courses out of the rows by the same definitions, and pairs each course's
charted response with the generator's own draw. It lets a test tell apart a definition
mismatch (charted response differs from the draw), a selection effect (the courses measured
have a different expected rate than the setting, or courses are measured more often when
they respond) and plain sampling chance (the draws themselves land away from the setting).
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ketaflow.clinical.rules import default_rules
from ketaflow.demo.context import Rows
from ketaflow.demo.generate import PAIN_PROTOCOL, clinic_rows, network_rows
from ketaflow.demo.outcomes import PatientCourse, response_intercept, response_probability
from ketaflow.demo.settings import DemoSettings
from ketaflow.store.outcome_queries import END_OF_INDUCTION_WINDOW_DAYS

EPS = 1e-9  # as the analytics compare a reduction with its threshold


@dataclass(frozen=True)
class MeasuredCourse:
    """One evaluable course: its response from the charted PHQ-9, and what the generator drew."""

    patient_id: uuid.UUID
    clinic_id: uuid.UUID
    responded: bool
    course: PatientCourse
    probability: float  # the generator's probability of response for this patient


@dataclass(frozen=True)
class DrawnCourse:
    """A depression course the generator drew, whether or not the analytics can measure it."""

    patient_id: uuid.UUID
    course: PatientCourse
    evaluable: bool


@dataclass(frozen=True)
class ResponseTruth:
    """The evaluable courses of a generated network, with the generator's draws."""

    setting: float
    courses: tuple[MeasuredCourse, ...]
    # Every depression course drawn (evaluable or not: dropped out, still in induction on the
    # as-of day, no end-of-induction PHQ-9 yet), to check that being measured is independent
    # of the response draw.
    drawn: tuple[DrawnCourse, ...] = ()

    @property
    def n(self) -> int:
        return len(self.courses)

    @property
    def drawn_responders(self) -> int:
        """Responders the generator drew among the evaluable courses (what the analytics should count)."""
        return sum(c.course.responder for c in self.courses)

    @property
    def expected_rate(self) -> float:
        """Mean response probability of the evaluable courses: the setting unless selection depends on it."""
        return statistics.fmean(c.probability for c in self.courses)

    def evaluable_fraction(self, responder: bool) -> tuple[int, int]:
        """(evaluable, drawn) among the courses drawn as responders (True) or non-responders."""
        group = [d for d in self.drawn if d.course.responder == responder]
        return sum(d.evaluable for d in group), len(group)

    def z_of_drawn_rate(self) -> float:
        """How far the drawn responder rate lies from the setting, in binomial standard errors."""
        se = math.sqrt(self.setting * (1 - self.setting) / self.n)
        return (self.drawn_responders / self.n - self.setting) / se


def response_truth(settings: DemoSettings, clinics: Iterable[int] | None = None) -> ResponseTruth:
    """Regenerate the network described by `settings` (or only `clinics`) and pair courses with draws."""
    network = network_rows(settings, "unused")
    intercept = response_intercept(settings)
    min_reduction = default_rules().response.min_reduction_fraction
    measured: list[MeasuredCourse] = []
    drawn: list[DrawnCourse] = []
    for index in range(settings.clinics) if clinics is None else clinics:
        courses: dict[uuid.UUID, PatientCourse] = {}
        rows = clinic_rows(settings, network, index, courses=courses)
        evaluable = _evaluable(rows)
        for patient_id, clinic_id, baseline, end in evaluable:
            course = courses[patient_id]
            p = response_probability(settings, intercept, course.z_cadss, course.z_baseline)
            responded = baseline > 0 and baseline - end >= min_reduction * baseline - EPS
            measured.append(MeasuredCourse(patient_id, clinic_id, responded, course, p))
        measured_ids = {e[0] for e in evaluable}
        depression = {
            p["patient_id"] for p in rows.get("treatment_plans", []) if p["protocol_code"] != PAIN_PROTOCOL
        }
        drawn.extend(
            DrawnCourse(pid, course, pid in measured_ids)
            for pid, course in courses.items()
            if pid in depression
        )
    return ResponseTruth(settings.response_fraction, tuple(measured), tuple(drawn))


def _evaluable(rows: Rows) -> list[tuple[uuid.UUID, uuid.UUID, int, int]]:
    """(patient, clinic, baseline PHQ-9, end-of-induction PHQ-9) of each evaluable depression course."""
    plans = {p["id"]: p for p in rows.get("treatment_plans", []) if p["protocol_code"] != PAIN_PROTOCOL}
    induction: dict[uuid.UUID, list[datetime]] = defaultdict(list)
    for s in rows.get("infusion_sessions", []):
        if s["phase"] == "induction" and s["treatment_plan_id"] in plans:
            induction[s["treatment_plan_id"]].append(s["opened_at"])
    phq9: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for q in rows.get("questionnaire_responses", []):
        if q["instrument"] == "phq9":
            phq9[q["patient_id"]].append(q)
    out = []
    window = timedelta(days=END_OF_INDUCTION_WINDOW_DAYS)
    for plan_id, plan in plans.items():
        opened = induction[plan_id]
        if len(opened) < plan["planned_infusions"]:
            continue  # dropped out, or still in induction on the as-of day
        answers = sorted(phq9[plan["patient_id"]], key=lambda q: (q["answered_at"], q["id"]))
        last = max(opened)
        ends = [q for q in answers if q["session_id"] is None and last <= q["answered_at"] <= last + window]
        if answers and ends:
            out.append((plan["patient_id"], plan["clinic_id"], answers[0]["total"], ends[0]["total"]))
    return out
