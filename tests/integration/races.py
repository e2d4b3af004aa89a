"""Racing use cases against each other without sleeping: barriers, and a lock held until they queue.

`race` runs each attempt in its own thread. The threads meet at a barrier, so they set off
together, while the test holds what the racing use cases must take first; it lets go only
once every racer is seen to have reached it:

- SQLite: the test holds the database's write lock (`begin_write`: the in-process writer
  lock and BEGIN IMMEDIATE). A racer has reached it when it checks a connection out of the
  pool for its writing transaction (the use cases open with `begin_write`), which cannot
  begin until the holder lets go.
- PostgreSQL: the test holds a row lock (SELECT ... FOR UPDATE) on the row the use cases lock
  or update. A racer has reached it when PostgreSQL reports its backend blocked
  (`pg_blocking_pids`: by the holder, or by a racer queued ahead of it for the same row).
  The test database is the test run's own, so no other backend is counted.

Either way what is waited for is an observed state, never a guessed time. Letting go early
would only let the racers run one after the other, which every assertion allows too; the
wait makes sure they really overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from ketaflow.store.engine import begin_write

QUEUE_TIMEOUT_S = 30.0  # a bound, not a timing: racers normally queue within milliseconds


def race(engine: Engine, row_lock: Select[Any] | None, *attempts: Callable[[], None]) -> None:
    """Run `attempts` at once behind the held lock; return when every one has finished.

    With `row_lock` None nothing is held: the attempts only set off together (for requests to
    a server in other processes on SQLite, whose waits for the file lock cannot be seen).
    """
    start = threading.Barrier(len(attempts))
    errors: list[BaseException] = []

    def run(attempt: Callable[[], None]) -> None:
        try:
            start.wait(timeout=QUEUE_TIMEOUT_S)
            attempt()
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,), name=f"racer-{i}") for i, a in enumerate(attempts)]
    with ExitStack() as after_the_race:  # undone once every racer has finished (or the test failed)
        if row_lock is None:
            for t in threads:
                t.start()
        else:
            with _held_until_queued(engine, row_lock, threads, after_the_race):
                for t in threads:
                    t.start()
        for t in threads:
            t.join(timeout=QUEUE_TIMEOUT_S)
            assert not t.is_alive(), f"{t.name} did not finish"
    if errors:
        raise errors[0]


@contextmanager
def _held_until_queued(
    engine: Engine, row_lock: Select[Any], racers: list[threading.Thread], after_the_race: ExitStack
) -> Iterator[None]:
    if engine.dialect.name == "sqlite":
        with _sqlite_writer_held(engine, racers, after_the_race):
            yield
        return
    with engine.connect() as holder:
        holder.execute(row_lock)
        try:
            yield
            # Behind the holder, or behind a racer queued before them for the same row.
            blocked = text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND cardinality(pg_blocking_pids(pid)) > 0"
            )
            deadline = time.monotonic() + QUEUE_TIMEOUT_S
            with engine.connect() as watcher:
                while (watcher.scalar(blocked) or 0) < len(racers):
                    watcher.rollback()  # look at a fresh pg_stat_activity next time
                    assert time.monotonic() < deadline, "the racers never queued for the lock"
                    time.sleep(0.005)  # a bounded poll of an observed state, not an ordering guess
        finally:
            holder.rollback()


@contextmanager
def _sqlite_writer_held(
    engine: Engine, racers: list[threading.Thread], after_the_race: ExitStack
) -> Iterator[None]:
    arrived = threading.Semaphore(0)

    def on_checkout(*_args: Any) -> None:
        if threading.current_thread() in racers:
            arrived.release()  # a racer's writing transaction is about to wait for the lock

    with Session(engine) as holder:
        begin_write(holder)  # the test takes the write lock first
        event.listen(engine, "checkout", on_checkout)
        # Removed only after the race: a racer may still be running the engine's checkout
        # listeners when it has told us it arrived, and removing one then makes SQLAlchemy raise
        # "deque mutated during iteration" in that racer (tests/integration/test_races_helper.py).
        after_the_race.callback(event.remove, engine, "checkout", on_checkout)
        try:
            yield
            for _ in racers:
                assert arrived.acquire(timeout=QUEUE_TIMEOUT_S), "the racers never queued for the lock"
        finally:
            holder.rollback()
