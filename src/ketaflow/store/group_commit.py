"""Group commit for small append-only rows (read audits) on SQLite.

Every page that shows patient data writes an audit event. On SQLite each such write is
a transaction of its own under the one database write lock, and under load the lock
holder keeps losing the interpreter lock to other requests between its statements, so
requests queue behind the write lock. Here one writer thread per engine takes every row
waiting at that moment and inserts them in ONE transaction (one executemany), then wakes
the requests that submitted them.

`submit` returns only after the row is committed (or raises the database's error): a
caller that waits before showing the page keeps the guarantee that no page is shown
whose audit was not written. Nothing is buffered past a commit, so a crash or kill loses
no audit of a page that was answered; requests still waiting at that moment get no page.
The thread stops after a short idle spell and starts again on the next row, and at
interpreter exit it finishes whatever is queued.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Table

from ketaflow.store.chain import chained_tables, link

log = logging.getLogger("ketaflow.store.group_commit")

MAX_BATCH = 500
IDLE_EXIT_S = 2.0


@dataclass
class _Pending:
    table: Table
    values: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommitWriter:
    """Inserts rows submitted from many threads in shared transactions, one thread per engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0  # transactions committed (for tests and benchmarks)

    def submit(self, table: Table, values: dict[str, Any]) -> None:
        """Insert one row into `table`; return once it is committed, raise if it could not be."""
        item = _Pending(table, values)
        self._queue.put(item)
        self._ensure_thread()
        item.done.wait()
        if item.error is not None:
            raise item.error

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ketaflow-group-commit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    # Exit only if nothing arrived meanwhile; a submitter that queued after
                    # the timeout sees a live thread, so it is drained below before exit.
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.flush(batch)

    def drain(self) -> None:
        """Write everything queued now, on the calling thread (used at interpreter exit)."""
        batch: list[_Pending] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if batch:
            self.flush(batch)

    def flush(self, batch: list[_Pending]) -> None:
        committed = False
        try:
            self._insert(batch)
            committed = True
        except Exception:
            # One bad row must not cost the others their page: retry each alone.
            for item in batch:
                try:
                    self._insert([item])
                except Exception as exc:
                    log.warning("could not write a %s row: %s", item.table.name, exc)
                    item.error = exc
            committed = True
        finally:
            for item in batch:
                if not committed and item.error is None:
                    item.error = RuntimeError("The audit writer stopped before this row was written.")
                item.done.set()

    def _insert(self, batch: list[_Pending]) -> None:
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for item in batch:
            by_table.setdefault(item.table, []).append(item.values)
        with self._engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)  # a writer: BEGIN IMMEDIATE
            with conn.begin():
                # Append-only rows join their hash chains in this same transaction.
                chained = {
                    t.name: [dict(r) for r in rows]
                    for t, rows in by_table.items()
                    if t.name in chained_tables()
                }
                link(conn, chained)
                for table, rows in by_table.items():
                    conn.execute(table.insert(), chained.get(table.name, rows))
        self.batches += 1


_writers: weakref.WeakKeyDictionary[Engine, GroupCommitWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer_for(engine: Engine) -> GroupCommitWriter:
    with _writers_lock:
        writer = _writers.get(engine)
        if writer is None:
            writer = _writers[engine] = GroupCommitWriter(engine)
        return writer


@atexit.register
def _drain_all() -> None:
    for writer in list(_writers.values()):
        try:
            writer.drain()
        except Exception:  # exit must go on; the submitters were told
            log.exception("could not write queued rows at exit")
