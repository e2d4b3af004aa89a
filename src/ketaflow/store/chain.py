"""Hash chains over the append-only tables: every row carries its place, its predecessor's hash
and its own hash, so a rewritten, deleted, inserted or reordered row shows (`ketaflow verify`).

One chain per table and clinic (audit events without a clinic form the table's "network"
chain). Per clinic, because writers of different clinics then never wait for each other and a
network sharded by clinic keeps each chain on one shard; per table, because each table is then
walked on its own, in one ordered scan of its `(clinic_id, chain_seq)` index.

A row's hash is SHA-256 over a canonical form of (format, table, predecessor's hash, content),
where the content is every column of the table but the three chain columns, by name, NULLs left
out (a column added later, NULL in the rows before it, leaves their hashes as they were). The
sequence number is not hashed: the predecessor's hash fixes the order, and the number only
names a gap. Values are written the same way whichever engine stored them (see `_CANON`):
UUIDs with hyphens, times in UTC with microseconds and a Z, dates ISO, floats by `repr`, JSON
re-read and written with sorted keys.

Writers: `link` assigns the chain columns of rows about to be inserted and moves the chain
heads (`chain_heads`), in the inserting transaction. On PostgreSQL it first takes a
transaction-scoped advisory lock per clinic (the "gate", in sorted order) and then the head
rows FOR UPDATE: every transaction that writes to a clinic's chains holds that clinic's gate
from its first chained flush to its commit, so two writers never read the same head (no
fork), a rolled-back writer leaves no gap, and flushes of one transaction touching several
tables of a clinic in any order cannot deadlock. On SQLite one writer at a time holds the
database. The ORM does it at every flush (`_chain_new_rows`), the group-commit writer for
read audits calls `link` itself, and the demo builder computes whole fresh chains in Python
(`link_fresh`).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    event,
    select,
    tuple_,
)
from sqlalchemy import (
    Enum as SAEnum,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from ketaflow.store.models.base import Base
from ketaflow.store.models.integrity import ChainHead

FORMAT = "ketaflow-chain-1"
CHAIN_COLUMNS = ("chain_seq", "prev_hash", "row_hash")
GENESIS = bytes(32)  # the predecessor of a chain's first row
NETWORK = "network"  # the scope of rows without a clinic (audit events of sign-ins, ...)

Canon = Callable[[Any], Any]


# ---- canonical values -------------------------------------------------------------------


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid(v: Any) -> str:
    if isinstance(v, str):
        if len(v) == 36 and _CANONICAL_UUID.fullmatch(v):  # PostgreSQL's text form: canonical already
            return v
        if len(v) == 32:  # SQLite's stored form: 32 hex digits
            v = v.lower()
            if v.isalnum():
                return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"
    return str(v) if isinstance(v, uuid.UUID) else str(uuid.UUID(str(v)))


def _datetime(v: Any) -> str:
    if isinstance(v, str):
        if v[10:11] == " ":
            # PostgreSQL's text form in UTC (see `stream`): "2026-11-25 10:00:00.5+00", the
            # fraction without its trailing zeros, none when zero. Tested before SQLite's form:
            # with three digits of fraction it is 26 characters long too.
            if v[-3:] == "+00" and 22 <= len(v) <= 29 and v[19] in "+.":
                return f"{v[:10]}T{v[11:19]}.{v[20:-3]:0<6}Z"
            if len(v) == 26 and v[19] == ".":  # SQLite's stored form, "2026-11-25 10:00:00.000000"
                return f"{v[:10]}T{v[11:]}Z"  # (UTC, naive)
        v = datetime.fromisoformat(v)
    v = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    return str(v.replace(tzinfo=None).isoformat(timespec="microseconds")) + "Z"


def _date(v: Any) -> str:
    if isinstance(v, str):  # SQLite's stored form
        return v if len(v) == 10 else date.fromisoformat(v).isoformat()
    return str(v.isoformat())


def _str(v: Any) -> str:
    return str(v.value) if isinstance(v, Enum) else str(v)


def _decimal(v: Any) -> str:
    return format(Decimal(str(v)).normalize(), "f")


def _bytes(v: Any) -> str:
    return bytes(v).hex()


def _json_tidy(v: Any) -> Any:
    """JSON as stored anywhere: a float with no fraction is written as the integer (PostgreSQL's
    jsonb gives 1e20 back as 100000000000000000000)."""
    if isinstance(v, float):
        return int(v) if v.is_integer() and abs(v) < 1e300 else v
    if isinstance(v, dict):
        return {k: _json_tidy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_tidy(x) for x in v]
    return v


def _json_value(v: Any) -> Any:  # an application value (dicts, lists, StrEnums, tuples)
    return _json_tidy(json.loads(json.dumps(v)))


def _json_text(v: Any) -> Any:  # SQLite's stored JSON text
    return _json_tidy(json.loads(v))


def _kind(column: Any) -> str:
    t = column.type
    while isinstance(t, TypeDecorator):
        t = t.impl if not isinstance(t.impl, type) else t.impl()
    for cls, kind in (
        (JSON, "json"),
        (SAEnum, "str"),
        (Uuid, "uuid"),
        (DateTime, "datetime"),
        (Date, "date"),
        (Boolean, "bool"),
        (Integer, "int"),
        (Float, "float"),
        (Numeric, "decimal"),
        (LargeBinary, "bytes"),
        (String, "str"),
        (Text, "str"),
    ):
        if isinstance(t, cls):
            return kind
    raise TypeError(
        f"{column.table.name}.{column.name}: no canonical form for {t!r}; add one to store/chain.py"
    )


_CANON: dict[str, Canon] = {
    "json": _json_value,
    "uuid": _uuid,
    "datetime": _datetime,
    "date": _date,
    "bool": bool,
    "int": int,
    "float": float,
    "decimal": _decimal,
    "bytes": _bytes,
    "str": _str,
}


_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True)
class ChainSpec:
    """How one table's rows are hashed: its content columns (sorted) with their canonical forms."""

    table: str
    columns: tuple[str, ...]
    canon: tuple[Canon, ...]  # for application values
    canon_raw: tuple[Canon, ...]  # for values as `stream` reads them (JSON as text)
    canon_raw_pg: tuple[Canon, ...]  # the same on PostgreSQL (UUIDs as its canonical text)

    def content(self, values: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, canon in zip(self.columns, self.canon, strict=True):
            v = values.get(name)
            if v is not None:
                out[name] = canon(v)
        return out

    def row_hash(self, prev: bytes, content: dict[str, Any]) -> bytes:
        """SHA-256 of `[FORMAT, table, prev as hex, content]` as JSON, keys sorted, no spaces,
        UTF-8 (the one encoding every hash of every chain goes through)."""
        payload = _ENCODE([FORMAT, self.table, prev.hex(), content])
        return hashlib.sha256(payload.encode("utf-8")).digest()

    def raw_canon(self, dialect: str) -> tuple[Canon, ...]:
        """The canonical forms of the values `stream` reads on `dialect` (JSON as text on both;
        PostgreSQL writes a UUID's text in its canonical form, so it is taken as it is)."""
        return self.canon_raw_pg if dialect == "postgresql" else self.canon_raw

    def raw_hash(self, prev: bytes, row: Sequence[Any], canon: Sequence[Canon]) -> bytes:
        """`row_hash` of a row as `raw_rows` reads it (the content columns first, in order), with
        `canon` from `raw_canon`."""
        content = {k: c(v) for k, c, v in zip(self.columns, canon, row) if v is not None}  # noqa: B905
        return self.row_hash(prev, content)


def spec_for_table(table: Table, present: Iterable[str] | None = None) -> ChainSpec:
    """The chain spec of `table` (a model's Table), limited to the columns `present` if given
    (a migration hashing rows of an older schema)."""
    keep = set(present) if present is not None else None
    columns = sorted(
        (c for c in table.columns if c.name not in CHAIN_COLUMNS and (keep is None or c.name in keep)),
        key=lambda c: c.name,
    )
    for c in columns:
        if c.server_default is not None and c.default is None:
            raise TypeError(
                f"{table.name}.{c.name} has a server default but no Python default: the row would be "
                "hashed without the value the database fills in; give it default= as well."
            )
    kinds = [_kind(c) for c in columns]
    return ChainSpec(
        table=table.name,
        columns=tuple(c.name for c in columns),
        canon=tuple(_CANON[k] for k in kinds),
        canon_raw=tuple(_json_text if k == "json" else _CANON[k] for k in kinds),
        canon_raw_pg=tuple(_json_text if k == "json" else str if k == "uuid" else _CANON[k] for k in kinds),
    )


@cache
def spec_for(name: str) -> ChainSpec:
    return spec_for_table(Base.metadata.tables[name])


@cache
def chained_tables() -> tuple[str, ...]:
    """The tables that carry a hash chain: every append-only table with the chain columns."""
    return tuple(
        sorted(
            m.class_.__tablename__
            for m in Base.registry.mappers
            if getattr(m.class_, "__append_only__", False) and "chain_seq" in m.class_.__table__.c
        )
    )


def scope_of(clinic_id: Any) -> str:
    return NETWORK if clinic_id is None else _uuid(clinic_id)


# ---- writing ------------------------------------------------------------------------------


def _gate_key(scope: str) -> int:
    """A signed 64-bit advisory-lock key for one clinic's chains."""
    return int.from_bytes(hashlib.sha256(f"ketaflow.chain:{scope}".encode()).digest()[:8], "big", signed=True)


def _with_defaults(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """Fill the Python-side column defaults an INSERT would, so the hash covers the stored value."""
    for c in table.columns:
        if values.get(c.key) is None and c.default is not None and c.name not in CHAIN_COLUMNS:
            d = c.default
            if d.is_scalar:
                values[c.key] = d.arg  # type: ignore[attr-defined]
            elif d.is_callable:
                values[c.key] = d.arg(None)  # type: ignore[attr-defined]
    return values


def link(conn: Connection, rows_by_table: Mapping[str, list[dict[str, Any]]]) -> None:
    """Give rows about to be inserted (column name -> value dicts, changed in place) their chain
    columns, and move the chain heads, inside `conn`'s transaction (see the module doc)."""
    tables = Base.metadata.tables
    for name, rows in rows_by_table.items():
        for r in rows:
            _with_defaults(tables[name], r)
    keys = sorted(
        {(name, scope_of(r.get("clinic_id"))) for name, rows in rows_by_table.items() for r in rows}
    )
    if not keys:
        return
    if conn.dialect.name == "postgresql":
        for scope in sorted({s for _, s in keys}):
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s)", {"k": _gate_key(scope)})
    found = conn.execute(_statements().lock, {"keys": keys}).all()
    heads: dict[tuple[str, str], tuple[int, bytes]] = {(t, s): (q, bytes(h)) for t, s, q, h in found}
    existing = set(heads)
    for name in sorted(rows_by_table):
        spec = spec_for(name)
        for r in rows_by_table[name]:
            key = (name, scope_of(r.get("clinic_id")))
            seq, prev = heads.get(key, (0, GENESIS))
            digest = spec.row_hash(prev, spec.content(r))
            r["chain_seq"], r["prev_hash"], r["row_hash"] = seq + 1, prev, digest
            heads[key] = (seq + 1, digest)
    moved = [{"t": t, "s": s, "q": q, "h": h} for (t, s), (q, h) in heads.items() if (t, s) in existing]
    new = [
        {"table_name": t, "scope": s, "seq": q, "row_hash": h}
        for (t, s), (q, h) in heads.items()
        if (t, s) not in existing
    ]
    if moved:
        conn.execute(_statements().move, moved)
    if new:
        conn.execute(_statements().add, new)


@dataclass(frozen=True)
class _Statements:
    lock: Any
    move: Any
    add: Any


@cache
def _statements() -> _Statements:
    """`link`'s statements, built once (building them cost more than running them)."""
    from sqlalchemy import bindparam, update

    head: Table = ChainHead.__table__  # type: ignore[assignment]
    return _Statements(
        lock=select(head.c.table_name, head.c.scope, head.c.seq, head.c.row_hash)
        .where(tuple_(head.c.table_name, head.c.scope).in_(bindparam("keys", expanding=True)))
        .order_by(head.c.table_name, head.c.scope)
        .with_for_update(),
        move=update(head)
        .where(head.c.table_name == bindparam("t"), head.c.scope == bindparam("s"))
        .values(seq=bindparam("q"), row_hash=bindparam("h")),
        add=head.insert(),
    )


def link_fresh(
    name: str, rows: list[dict[str, Any]], heads: dict[tuple[str, str], tuple[int, bytes]]
) -> None:
    """`link` without a database: chain `rows` of `name` after `heads` (updated in place).

    For a writer that holds every chain it extends, like the demo builder (each clinic's chains
    are new and written in one transaction, with their heads)."""
    spec, table = spec_for(name), Base.metadata.tables[name]
    for r in rows:
        _with_defaults(table, r)
        key = (name, scope_of(r.get("clinic_id")))
        seq, prev = heads.get(key, (0, GENESIS))
        digest = spec.row_hash(prev, spec.content(r))
        r["chain_seq"], r["prev_hash"], r["row_hash"] = seq + 1, prev, digest
        heads[key] = (seq + 1, digest)


def _attribute_keys(cls: Any) -> tuple[tuple[str, str], ...]:
    """(column name, attribute name) of a mapped class's table columns (worked out once per class)."""
    found = _ATTRIBUTE_KEYS.get(cls)
    if found is None:
        mapper = cls.__mapper__
        found = tuple((c.name, mapper.get_property_by_column(c).key) for c in cls.__table__.columns)
        _ATTRIBUTE_KEYS[cls] = found
    return found


_ATTRIBUTE_KEYS: dict[Any, tuple[tuple[str, str], ...]] = {}


@event.listens_for(Session, "before_flush")
def _chain_new_rows(session: Session, _ctx: Any, _instances: Any) -> None:
    """Chain the append-only rows this flush inserts (their chain columns are set on the objects)."""
    chained = chained_tables()
    pending: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for obj in session.new:
        table = getattr(type(obj), "__table__", None)
        if table is None or table.name not in chained:
            continue
        values = {col: getattr(obj, attr) for col, attr in _attribute_keys(type(obj))}
        pending.setdefault(table.name, []).append((obj, values))
    if not pending:
        return
    link(session.connection(), {name: [v for _, v in items] for name, items in pending.items()})
    for items in pending.values():
        keys = _attribute_keys(type(items[0][0]))
        for obj, values in items:
            for col, attr in keys:
                # The chain columns always (a flush retried after a rollback chains anew); the
                # defaults `link` filled in only where the object had nothing.
                if col in CHAIN_COLUMNS or (getattr(obj, attr) is None and values.get(col) is not None):
                    setattr(obj, attr, values[col])


# ---- reading ------------------------------------------------------------------------------

# PostgreSQL types `stream` reads as the server writes them (text), not as Python objects: the
# canonical forms take the text as it is (UUIDs), or reshape it (times in UTC, dates), or parse it
# once (JSON), where building a UUID, a datetime or a dict first cost most of verify's time.
_PG_AS_TEXT = ("uuid", "timestamptz", "timestamp", "date", "json", "jsonb")
BATCH = 10_000  # rows per round trip


def stream(
    conn: Connection, sql: str, params: Mapping[str, Any] | None = None, *, batch: int = BATCH
) -> Iterator[tuple[Any, ...]]:
    """The rows of `sql` as plain tuples, straight from the driver, `batch` at a time (memory
    bounded): on PostgreSQL through a server-side cursor in `conn`'s transaction, in UTC, with
    UUIDs, times, dates and JSON as text; on SQLite as stored. Parameters are `%(name)s`."""
    dbapi: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        from psycopg.types.string import TextLoader

        conn.exec_driver_sql(
            "SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO', true)"
        )
        cursor = dbapi.cursor(name=f"ketaflow_stream_{uuid.uuid4().hex[:12]}")
        for type_name in _PG_AS_TEXT:
            cursor.adapters.register_loader(type_name, TextLoader)
        cursor.itersize = batch
        query, values = sql, params
    else:
        cursor = dbapi.cursor()
        query = re.sub(r"%\((\w+)\)s", r":\1", sql)
        values = params or {}
    try:
        cursor.execute(query, values)
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        cursor.close()


def raw_rows(
    conn: Connection, spec: ChainSpec, *, order: str, where: str = "", params: Mapping[str, Any] | None = None
) -> Iterator[tuple[Any, ...]]:
    """Stream (content columns..., id, chain_seq, prev_hash, row_hash) of `spec.table` as `stream`
    reads them (no conversion to the models' types: fast, and a tampered value cannot stop the
    walk), ordered by `order`."""
    names = ", ".join([*spec.columns, "id", *CHAIN_COLUMNS])
    condition = f" WHERE {where}" if where else ""
    return stream(conn, f"SELECT {names} FROM {spec.table}{condition} ORDER BY {order}", params)


def rechain(conn: Connection, name: str, progress: Callable[[int], None] | None = None) -> int:
    """Chain every row of table `name` from scratch, oldest first (schema 0015's backfill): the
    UPDATE triggers must be off. Reads the columns the database has; returns the rows chained.

    Memory bounded: each chain is read in pages of BATCH rows, each page after the last row of
    the one before (its recording time and id: the chain columns it writes are not among them,
    so no row is read twice or skipped), and its rows updated before the next page is read."""
    from sqlalchemy import inspect

    present = [c["name"] for c in inspect(conn).get_columns(name)]
    spec = spec_for_table(Base.metadata.tables[name], present)
    when = next((c for c in ("recorded_at", "occurred_at") if c in present), "id")
    n_cols = len(spec.columns)
    sql_cols = ", ".join([*spec.columns, "id", when])
    canon = spec.raw_canon(conn.dialect.name)
    postgres = conn.dialect.name == "postgresql"
    scopes = [
        r[0]
        for r in conn.exec_driver_sql(f"SELECT DISTINCT clinic_id FROM {name}")  # noqa: S608
    ]
    heads: list[dict[str, Any]] = []
    count = 0
    for clinic in scopes:
        scope = scope_of(clinic)
        in_scope = "clinic_id IS NULL" if clinic is None else "clinic_id = %(c)s"
        seq, prev, after = 0, GENESIS, None
        while True:
            page = "" if after is None else f" AND ({when} > %(w)s OR ({when} = %(w)s AND id > %(i)s))"
            params = {"c": clinic, "w": after[0] if after else None, "i": after[1] if after else None}
            rows = list(
                stream(
                    conn,
                    f"SELECT {sql_cols} FROM {name} WHERE {in_scope}{page} "  # noqa: S608
                    f"ORDER BY {when}, id LIMIT {BATCH}",
                    params,
                )
            )
            if not rows:
                break
            updates = []
            for row in rows:
                digest = spec.raw_hash(prev, row, canon)
                seq += 1
                updates.append((seq, prev, digest, row[n_cols]))
                prev = digest
            after = (rows[-1][n_cols + 1], rows[-1][n_cols])
            if postgres:
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                cursor.executemany(
                    f"UPDATE {name} SET chain_seq = %s, prev_hash = %s, row_hash = %s WHERE id = %s",
                    updates,
                )
            else:
                conn.exec_driver_sql(
                    f"UPDATE {name} SET chain_seq = ?, prev_hash = ?, row_hash = ? WHERE id = ?", updates
                )
            count += len(rows)
            if progress is not None:
                progress(len(rows))
        if seq:
            heads.append({"table_name": name, "scope": scope, "seq": seq, "row_hash": prev})
    if heads:
        conn.execute(ChainHead.__table__.insert(), heads)  # type: ignore[attr-defined]
    return count
