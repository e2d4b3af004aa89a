"""Append-only clinical facts: the amendment path, the current view, and the ORM guard.

The database refuses UPDATE/DELETE on these tables (triggers; see `append_only`). The
guard here refuses the same one step earlier, inside the ORM, with a message a person
can act on rather than a driver error.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Select, event, exists, select
from sqlalchemy.orm import Session, aliased, class_mapper

from ketaflow.errors import ClinicalRecordImmutable, Conflict, InvalidInput
from ketaflow.store.models.base import ClinicalFact, utcnow

F = TypeVar("F", bound=ClinicalFact)

# Columns an amendment never copies from the row it corrects: they describe the new row.
_OWN_COLUMNS = {
    "id",
    "recorded_at",
    "recorded_by_id",
    "amends_id",
    "amendment_reason",
    "chain_seq",
    "prev_hash",
    "row_hash",
}


def amend(
    session: Session,
    original: F,
    *,
    reason: str,
    by_user_id: uuid.UUID | None,
    recorded_at: datetime | None = None,
    **changes: Any,
) -> F:
    """Record a correction of `original` as a new row that points at it.

    The original row is left exactly as charted. Only the latest row of an amendment
    chain may be amended, so two people correcting the same entry cannot both win.
    `recorded_at` is when the amendment is written (default: now); use cases pass their clock.
    """
    if not reason or not reason.strip():
        raise InvalidInput("A correction needs a reason; say why the charted entry is being amended.")
    cls = type(original)
    columns = {c.key for c in class_mapper(cls).column_attrs}
    unknown = sorted(set(changes) - columns)
    if unknown:
        raise InvalidInput(f"{cls.__name__} has no field named {', '.join(unknown)}.")
    forbidden = sorted(set(changes) & (_OWN_COLUMNS | {"clinic_id", "patient_id", "session_id"}))
    if forbidden:
        raise InvalidInput(f"An amendment cannot change {', '.join(forbidden)}.")
    if is_superseded(session, original):
        raise Conflict(
            "This entry has already been corrected by someone else; open the latest version and amend that."
        )
    values = {key: getattr(original, key) for key in columns - _OWN_COLUMNS}
    values.update(changes)
    values.update(
        id=uuid.uuid4(),
        amends_id=original.id,
        amendment_reason=reason.strip(),
        recorded_by_id=by_user_id,
        recorded_at=recorded_at or utcnow(),
    )
    amended = cls(**values)
    session.add(amended)
    session.flush()
    return amended


def is_superseded(session: Session, fact: ClinicalFact) -> bool:
    cls = type(fact)
    return bool(session.scalar(select(exists().where(cls.amends_id == fact.id))))


def current(model: type[F]) -> Select[tuple[F]]:
    """SELECT the rows of `model` that no later row amends (the charted truth as corrected).

    Written as `id NOT IN (the set of amended ids)` rather than a correlated NOT EXISTS:
    the set is small and computed once, whereas a planner with statistics that show
    `amends_id` as almost always NULL may run a correlated probe as a scan for every row.
    """
    # Built once per model: statements are immutable, and building the alias each time
    # cost more than running the query.
    found = _CURRENT.get(model)
    if found is None:
        newer = aliased(model)
        amended = select(newer.amends_id).where(newer.amends_id.is_not(None))
        found = _CURRENT[model] = select(model).where(model.id.not_in(amended))
    return cast("Select[tuple[F]]", found)


_CURRENT: dict[type[ClinicalFact], Select[Any]] = {}


def amendments(model: type[F]) -> Select[Any]:
    """SELECT (amending row, the row it amends) pairs of `model`; add the caller's WHERE.

    Built once per model, like `current`: a new alias per call rebuilt its column
    proxies (several ms per chart page) and defeated the compiled-statement cache.
    """
    found = _AMENDMENTS.get(model)
    if found is None:
        older = aliased(model)
        found = _AMENDMENTS[model] = select(model, older).join(older, older.id == model.amends_id)
    return found


_AMENDMENTS: dict[type[ClinicalFact], Select[Any]] = {}


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_facts(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, ClinicalFact) or getattr(obj, "__append_only__", False):
            raise ClinicalRecordImmutable(
                f"A charted {type(obj).__name__} cannot be deleted; record an amendment that marks it "
                "entered in error instead."
            )
    for obj in session.dirty:
        if (isinstance(obj, ClinicalFact) or getattr(obj, "__append_only__", False)) and session.is_modified(
            obj, include_collections=False
        ):
            raise ClinicalRecordImmutable(
                f"A charted {type(obj).__name__} cannot be changed; "
                "record an amendment with the reason instead."
            )
