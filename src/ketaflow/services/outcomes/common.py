"""Shared pieces of the outcome use cases: the database bind, definitions from the rules, scope."""

from __future__ import annotations

import os
import threading
import typing
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from ketaflow.clinical import list_protocols
from ketaflow.clinical.rules import ClinicalRules, default_rules
from ketaflow.errors import InvalidInput, NotFound
from ketaflow.store import outcome_queries as q

Bind = Session | Engine | Connection
NETWORK = "network"
T = TypeVar("T")


@contextmanager
def connection(bind: Bind) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    elif isinstance(bind, Session):
        yield bind.connection()
    else:
        with bind.connect() as conn:
            yield conn


_MEMO: OrderedDict[Hashable, tuple[tuple[object, ...], Any]] = OrderedDict()
_MEMO_SIZE = 64
_MEMO_LOCK = threading.Lock()


def _database_identity(conn: Connection) -> Hashable | None:
    """The SQLite file (path, device, inode): a rebuilt database is a different one."""
    path = conn.engine.url.database
    if conn.dialect.name != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), st.st_dev, st.st_ino)


def memoized(conn: Connection, key: Hashable, compute: Callable[[], T], *, cache: bool = True) -> T:
    """`compute()`, reused while the outcome tables' data version is unchanged (SQLite files only).

    The version is read before computing, so a write that lands meanwhile makes the next call
    compute again rather than serve a stale figure. With `cache` False (or on PostgreSQL, or
    an in-memory database) every call computes: the benchmark reports that cold figure too.
    """
    database = _database_identity(conn) if cache else None
    version = q.data_version(conn) if database is not None else None
    if database is None or version is None:
        return compute()
    full = (database, key)
    with _MEMO_LOCK:
        hit = _MEMO.get(full)
    if hit is not None and hit[0] == version:
        return typing.cast(T, hit[1])
    value = compute()
    with _MEMO_LOCK:
        _MEMO[full] = (version, value)
        _MEMO.move_to_end(full)
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return value


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
    with connection(bind) as conn:
        rows = q.clinics(conn)
    wanted = clinic.strip().lower()
    found = [r for r in rows if wanted in (r[1].lower(), r[2].lower())]
    if not found:
        codes = ", ".join(r[1] for r in rows) or "none"
        raise NotFound(f"No clinic has the code or name {clinic!r}; the clinics are: {codes}.")
    return Scope(f"{found[0][1]} {found[0][2]}", tuple(r[0] for r in found))


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
