"""Column types shared by every model: UTC timestamps, string-valued enums, JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every engine.

    SQLite has no time-zone type, so values are normalised to UTC on the way in and
    marked UTC on the way out. A naive datetime is refused: a clinical time without a
    zone is ambiguous, and guessing would misplace an event by hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not UTC:
            if value.tzinfo is None:
                raise ValueError("A time was given without a time zone; ketaflow stores UTC times.")
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_column(enum_cls: type[StrEnum]) -> SAEnum:
    """A portable enum column stored as its string values (VARCHAR with a CHECK)."""
    return SAEnum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
        name=f"ck_{enum_cls.__name__.lower()}",
    )


# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONType: Any = JSON().with_variant(JSONB(), "postgresql")
