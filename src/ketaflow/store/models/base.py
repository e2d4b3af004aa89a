"""Declarative base and the mixins that give every table its shared shape.

- `Identified`: a UUID primary key (generated in Python, so rows can be built in bulk
  and merged across sites without a central sequence).
- `ClinicOwned`: `clinic_id` on every clinic-owned row, so a large network can shard by
  clinic without a redesign.
- `ClinicalFact`: charted facts are append-only. A correction is a new row whose
  `amends_id` points at the row it corrects, with who, when and why. The database
  refuses UPDATE and DELETE on these tables (see `ketaflow.store.append_only`).
- `Versioned`: records a person edits carry a version number; SQLAlchemy checks it on
  every UPDATE (optimistic concurrency).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from ketaflow.store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        uuid.UUID: Uuid,
        str: String(255),
    }

    # Set to True on clinical-fact tables; the migration installs the append-only triggers.
    __append_only__: ClassVar[bool] = False


class Identified:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class ClinicOwned:
    @declared_attr
    def clinic_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805 - SQLAlchemy declared_attr
        return mapped_column(ForeignKey("clinics.id"), index=True)


class Chained:
    """The hash-chain columns of an append-only table (see `ketaflow.store.chain`): the row's
    place in its table-and-clinic chain, its predecessor's hash and its own. Set by the writer
    at insert; NULL only in a row written behind ketaflow's back, which `ketaflow verify` names."""

    chain_seq: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    row_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)  # declarative builds the table here
        table = getattr(cls, "__table__", None)
        if table is not None:
            chain_index(table)


def chain_index(table: Any) -> Index:
    """One row per place in each chain; `ketaflow verify` walks each table along this index."""
    return Index(f"ix_{table.name}_chain", table.c.clinic_id, table.c.chain_seq, unique=True)


class ClinicalFact(Chained, Identified, ClinicOwned):
    """Columns every append-only clinical fact carries."""

    __append_only__ = True

    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    @declared_attr
    def recorded_by_id(cls) -> Mapped[uuid.UUID | None]:  # noqa: N805
        return mapped_column(ForeignKey("staff_users.id"), nullable=True)

    @declared_attr
    def amends_id(cls) -> Mapped[uuid.UUID | None]:  # noqa: N805
        return mapped_column(ForeignKey(f"{cls.__tablename__}.id"), nullable=True)  # type: ignore[attr-defined]

    amendment_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)  # declarative builds the table here
        table = getattr(cls, "__table__", None)
        if table is not None:
            amends_index(table.c.amends_id)


def amends_index(column: Any) -> Index:
    """The index on `amends_id`, partial: only amendment rows are in it.

    Almost every charted row has `amends_id` NULL. A full index is mostly NULLs, and
    sampled statistics (SQLite's ANALYZE with analysis_limit) can make it look useless,
    so "which rows are amended" became a scan of the whole table (220 ms on the demo's
    1.2 million vital-sign rows) on every chair board. The partial index holds only the
    amendments: that set is read from a tiny index, and `amends_id = ?` (the newer row of
    an entry) uses it too. Schema 0005 replaced the full indexes.
    """
    table = column.table
    where = column.is_not(None)
    return Index(f"ix_{table.name}_amends_id", column, sqlite_where=where, postgresql_where=where)


class Versioned:
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]
