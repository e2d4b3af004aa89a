"""Engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ketaflow.errors import InvalidInput
from ketaflow.settings import normalise_database_url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url`, with SQLite set up for concurrent clinical use.

    SQLite gets WAL (readers do not block the writer), enforced foreign keys, recursive
    triggers (so REPLACE fires DELETE triggers), a busy timeout instead of an immediate
    "database is locked", and explicit BEGIN so that SAVEPOINTs and transactional DDL work
    (pysqlite's own transaction handling does not emit BEGIN before DDL or SAVEPOINT).
    """
    url = normalise_database_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends
        raise InvalidInput(f"The database URL {url!r} is not a valid URL.") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    raise InvalidInput(
        f"ketaflow supports SQLite and PostgreSQL; the database URL names {parsed.get_backend_name()!r}."
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # REPLACE then fires DELETE triggers too (a second wall; the schema's BEFORE INSERT
        # guards refuse REPLACE on append-only tables for any connection, see `append_only`).
        cursor.execute("PRAGMA recursive_triggers=ON")
        cursor.close()

    # Writers in this process queue on a lock rather than in SQLite's busy handler, whose
    # sleeps grow to 100 ms and let one unlucky request starve for seconds under load.
    # (Other processes still meet busy_timeout.)
    write_lock = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A transaction that will read and then write asks for the write lock up front
        # (see `begin_write`): in WAL mode a deferred transaction whose snapshot went stale
        # cannot upgrade to a writer and fails at once with "database is locked", whereas
        # BEGIN IMMEDIATE simply waits its turn. Reads stay deferred and never block anyone.
        if conn.get_execution_options().get("sqlite_immediate", False):
            write_lock.acquire()
            conn.info["ketaflow_write_lock"] = True
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except Exception:
                _release(conn)
                raise
        else:
            conn.exec_driver_sql("BEGIN")

    def _release(conn: Any) -> None:
        if conn.info.pop("ketaflow_write_lock", False):
            write_lock.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        # Safety net: a connection returned to the pool never keeps the lock.
        if record.info.pop("ketaflow_write_lock", False):
            write_lock.release()


SQLITE_FULL = 13  # sqlite3.SQLITE_FULL: "database or disk is full" (also a max_page_count reached)
PG_DISK_FULL = "53100"  # PostgreSQL's SQLSTATE disk_full


def is_storage_full(exc: BaseException) -> bool:
    """Whether a database error (SQLAlchemy's, or the driver's it wraps) says the storage is full."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)  # the extended code; its low byte is the primary
    if isinstance(code, int) and code & 0xFF == SQLITE_FULL:
        return True
    return getattr(orig, "sqlstate", None) == PG_DISK_FULL


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def begin_write(db: Session) -> None:
    """Start `db`'s transaction as a writer (SQLite: BEGIN IMMEDIATE; elsewhere a no-op).

    Call it first in a use case that reads and then writes. If a transaction is already
    open (a read earlier in the same request), it is ended first: it has written nothing.
    """
    if db.in_transaction() and not db.new and not db.dirty and not db.deleted:
        db.commit()
    db.connection(execution_options={"sqlite_immediate": True})


def lock_row(db: Session, model: Any, row_id: Any, *, shared: bool = False) -> None:
    """Lock one row until the transaction ends (PostgreSQL: SELECT ... FOR UPDATE, or FOR SHARE
    with `shared`: others may read-lock it too, nobody may change it).

    On SQLite the whole database is already held by `begin_write`, and FOR UPDATE is not
    emitted. Use it after `begin_write` and before reading what the change depends on: a
    second writer then waits here and reads what the first one committed.

    A row of an append-only table is locked by a transaction-scoped advisory lock on its table
    and id instead: PostgreSQL allows FOR UPDATE / FOR SHARE only to a role that may UPDATE the
    table, which the application's role may not (`db_roles`). Such rows are never updated or
    deleted, so the lock only has to make those who call this wait for each other, as it does.
    """
    if getattr(model, "__append_only__", False):
        if db.get_bind().dialect.name == "postgresql":
            wait = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
            key = f"ketaflow.row:{model.__tablename__}:{row_id}"
            db.execute(text(f"SELECT {wait}(hashtextextended(:key, 0))"), {"key": key})
        return
    db.execute(select(model.id).where(model.id == row_id).with_for_update(read=shared))
