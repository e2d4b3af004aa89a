"""Shared SQL pieces of the outcome queries: definitions, currency of facts, clinic scope, day arithmetic."""

from __future__ import annotations

import typing
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    bindparam,
    case,
    cast,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement

from ketaflow.store import models as m

T = TypeVar("T")

# How long after the last induction infusion a home PHQ-9 still counts as the end-of-induction
# measure. The demo asks for it after 7 days; 28 days is our choice (no source), wide enough
# for a late answer, short enough not to take a PHQ-9 from months later.
END_OF_INDUCTION_WINDOW_DAYS = 28
# Bookings that mean a series is still going on (not a drop-out).
OPEN_BOOKINGS = ("booked", "checked_in", "in_chair")
EPS = 1e-9  # the clinical rules' own tolerance when comparing a reduction to its threshold


class days_between(FunctionElement[float]):  # noqa: N801 - reads as a SQL function
    """Days (fractional) from the first timestamp to the second, on SQLite and PostgreSQL."""

    type = Float()
    inherit_cache = True


@compiles(days_between)
def _days_between_default(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"(EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)})) / 86400.0)"
    )


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"(julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)}))"


@dataclass(frozen=True)
class OutcomeDefinitions:
    """What the clinical rules say response and remission are, passed in by the service."""

    depression_protocols: tuple[str, ...]
    min_reduction_fraction: float  # response: a fall of at least this fraction from baseline
    remission_max_total: int  # remission: PHQ-9 at or below this


def not_amended(model: type[Any], row: Any) -> ColumnElement[bool]:
    """`row` is current: no row of `model` amends it (the view of ketaflow.store.facts.current).

    Written as NOT IN over the (few) amends_id values rather than a correlated NOT EXISTS:
    SQLite evaluates it once, whatever the planner's statistics say. After ANALYZE on a
    database with no amendments, SQLite judges the amends_id index useless and runs a
    correlated NOT EXISTS as a full table scan per row (minutes instead of milliseconds).
    """
    newer = aliased(model)
    condition: ColumnElement[bool] = row.id.not_in(
        select(newer.amends_id).where(newer.amends_id.is_not(None))
    )
    return condition


def current_rows(model: type[Any]) -> Select[Any]:
    """SELECT the current rows of `model` (as :func:`ketaflow.store.facts.current`)."""
    return select(model).where(not_amended(model, model))


# The clinic ids of a scoped query travel as one expanding parameter, so each statement is
# built (and compiled) once per shape, network or clinics, and reused for any clinics.
CLINIC_IDS = "outcome_clinic_ids"
_BUILT: dict[Hashable, Any] = {}


def scoped(column: Any, clinic_ids: Sequence[uuid.UUID] | None) -> ColumnElement[bool]:
    """`column` is one of the clinics (pass :func:`scope_params` when executing); True for the network."""
    if clinic_ids is None:
        return literal(True)
    condition: ColumnElement[bool] = column.in_(bindparam(CLINIC_IDS, expanding=True))
    return condition


def scope_params(clinic_ids: Sequence[uuid.UUID] | None) -> dict[str, Any]:
    """The parameters a statement built with :func:`scoped` for these clinics needs."""
    return {} if clinic_ids is None else {CLINIC_IDS: list(clinic_ids)}


def built(key: Hashable, make: Callable[[], T]) -> T:
    """The statement for `key`, built on first use.

    Building the outcome statements (aliases, correlated subqueries, column proxies) costs
    tens of milliseconds of Python per dashboard, as much as running some of them.
    """
    found = _BUILT.get(key)
    if found is None:
        found = _BUILT[key] = make()
    return typing.cast(T, found)


def responds(baseline: Any, later: Any, d: OutcomeDefinitions) -> ColumnElement[bool]:
    return and_(
        later.is_not(None),
        baseline > 0,
        cast(baseline - later, Float) >= d.min_reduction_fraction * cast(baseline, Float) - EPS,
    )


def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def current_phq9(patient_id: Any) -> tuple[Any, ColumnElement[bool]]:
    """An alias of questionnaire_responses and the filter: this patient's current PHQ-9 rows."""
    qr = aliased(m.QuestionnaireResponse)
    return qr, and_(
        qr.patient_id == patient_id,
        qr.instrument == "phq9",
        not_amended(m.QuestionnaireResponse, qr),
    )
