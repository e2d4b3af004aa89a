"""Group commit of read audits on SQLite: one transaction for every row waiting, none lost."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from ketaflow.services.audit import Actor, record_read
from ketaflow.store import group_commit
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write, make_engine, make_sessionmaker
from ketaflow.store.group_commit import writer_for
from ketaflow.store.migrate import upgrade

TABLE = m.AuditEvent.__table__


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def row(action: str = "test.read", **extra: object) -> dict[str, object]:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "occurred_at": m.utcnow(),
        "actor_user_id": None,
        "actor_label": "test",
        "action": action,
        "entity_type": "clinic",
        "entity_id": None,
        "clinic_id": None,
        "patient_id": None,
        "ip_address": None,
        "user_agent": None,
        "details": {},
    }
    values.update(extra)
    return values


def count(engine: Engine, action: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(TABLE).where(TABLE.c.action == action)) or 0)


def test_rows_waiting_together_are_committed_in_one_transaction(engine: Engine) -> None:
    writer = writer_for(engine)
    sessions = make_sessionmaker(engine)
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            writer.submit(TABLE, row("test.batched"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with sessions() as blocker:
        begin_write(blocker)  # hold the write lock: the writer's first transaction must wait
        threads = [threading.Thread(target=submit) for _ in range(20)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while writer._queue.qsize() < 19 and time.monotonic() < deadline:
            time.sleep(0.01)
        batches_before = writer.batches
        blocker.commit()
    for t in threads:
        t.join(10)
    assert not errors
    assert count(engine, "test.batched") == 20
    # The first row's transaction was waiting for the lock; the other 19 went in one more.
    assert writer.batches - batches_before == 2


def test_a_bad_row_fails_its_own_submitter_only(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch with one bad row: the batch fails, each row is retried alone, only the bad one fails.

    Ordered by events, not sleeps: the writer's first insert (one good row) is held open
    until the three other rows are seen queued, so they go to the writer as one batch.
    """
    writer = group_commit.GroupCommitWriter(engine)
    queued = threading.Semaphore(0)

    class WatchedQueue(queue.SimpleQueue[group_commit._Pending]):
        def put(self, item: group_commit._Pending, block: bool = True, timeout: float | None = None) -> None:
            super().put(item, block, timeout)
            queued.release()

    monkeypatch.setattr(writer, "_queue", WatchedQueue())
    first_insert, go_on = threading.Event(), threading.Event()
    batches: list[list[str]] = []
    real_insert = writer._insert

    def insert(batch: list[group_commit._Pending]) -> None:
        batches.append([str(item.values["action"]) for item in batch])
        if len(batches) == 1:
            first_insert.set()
            assert go_on.wait(30)
        real_insert(batch)

    monkeypatch.setattr(writer, "_insert", insert)
    failures: list[BaseException] = []

    def bad() -> None:
        try:
            writer.submit(TABLE, row("test.bad", clinic_id=uuid.uuid4()))  # no such clinic: FK refused
        except IntegrityError as exc:
            failures.append(exc)

    def good() -> None:
        writer.submit(TABLE, row("test.good"))

    first = threading.Thread(target=good)
    first.start()
    assert first_insert.wait(30)  # the writer is inside its first transaction, with that one row
    others = [threading.Thread(target=f) for f in (bad, good, good)]
    for t in others:
        t.start()
    for _ in range(4):  # the first row and the three others are in the queue
        assert queued.acquire(timeout=30)
    go_on.set()
    for t in [first, *others]:
        t.join(30)
    assert batches[0] == ["test.good"]
    assert sorted(batches[1]) == ["test.bad", "test.good", "test.good"]  # together, and refused
    assert sorted(batches[2:]) == [["test.bad"], ["test.good"], ["test.good"]]  # then one by one
    assert len(failures) == 1
    assert count(engine, "test.good") == 3
    assert count(engine, "test.bad") == 0


def test_record_read_returns_only_once_the_audit_is_committed(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        db.scalar(select(func.count()).select_from(m.Clinic))  # a reading transaction is open
        record_read(db, Actor(None, "nurse@test"), "test.read_audit", "clinic", uuid.uuid4())
        assert not db.in_transaction()
        assert count(engine, "test.read_audit") == 1  # visible to any other connection at once
    assert writer_for(engine).batches >= 1


def test_record_read_in_a_writing_session_joins_that_write(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    writer = writer_for(engine)
    before = writer.batches
    with sessions() as db:
        begin_write(db)
        record_read(db, Actor(None, "nurse@test"), "test.joined", "clinic", uuid.uuid4())
    assert count(engine, "test.joined") == 1
    assert writer.batches == before  # not through the group writer


def test_the_writer_thread_stops_when_idle_and_starts_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "IDLE_EXIT_S", 0.05)
    writer = group_commit.GroupCommitWriter(engine)
    writer.submit(TABLE, row("test.idle"))
    deadline = time.monotonic() + 5
    while writer._thread is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer._thread is None
    writer.submit(TABLE, row("test.idle"))
    assert count(engine, "test.idle") == 2


def test_drain_writes_what_is_queued(engine: Engine) -> None:
    writer = group_commit.GroupCommitWriter(engine)
    item = group_commit._Pending(TABLE, row("test.drained"))
    writer._queue.put(item)  # queued, writer thread not started (as at interpreter exit)
    writer.drain()
    assert item.done.is_set() and item.error is None
    assert count(engine, "test.drained") == 1
