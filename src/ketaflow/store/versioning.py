"""Optimistic concurrency for records people edit (appointments, plans, patients)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ketaflow.errors import Conflict, InvalidInput

V = TypeVar("V")


def apply_edit(session: Session, record: V, *, expected_version: int, **changes: Any) -> V:
    """Apply `changes` to `record` if nobody has saved it since `expected_version`.

    The version is checked twice: here (a clear message for the common case of a stale
    form) and by SQLAlchemy's version counter in the UPDATE itself (a race between two
    saves in the same instant).
    """
    label = type(record).__name__.lower()
    current = record.version  # type: ignore[attr-defined]
    if current != expected_version:
        raise Conflict(
            f"This {label} was changed by someone else since you opened it (your version "
            f"{expected_version}, now {current}); reload it and make your change again."
        )
    mapper_columns = {c.key for c in type(record).__mapper__.column_attrs}  # type: ignore[attr-defined]
    for key, value in changes.items():
        if key not in mapper_columns or key in {"id", "version", "clinic_id"}:
            raise InvalidInput(f"The {label} field {key!r} cannot be edited.")
        setattr(record, key, value)
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            f"This {label} was changed by someone else while you were saving; reload it and try again."
        ) from exc
    return record
