"""The race helper itself (tests/integration/races.py): on SQLite it counts the racers queueing for
the write lock with a pool "checkout" listener; that listener must stay registered until every
racer is done. Removed while a racer was still running its engine's checkout listeners, SQLAlchemy
raised "deque mutated during iteration" in the racer (seen once in a whole-suite run, in
test_dose_orders.py's order-racing-the-pump-start test)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from ketaflow.store.engine import begin_write, make_engine
from tests.integration.races import race


def test_the_sqlite_lock_listener_stays_until_every_racer_has_finished(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'race.sqlite'}")

    def listeners() -> int:  # looked up each time: SQLAlchemy replaces an empty collection on first use
        return len(engine.pool.dispatch.checkout.listeners)

    before = listeners()
    during: list[int] = []

    def attempt() -> None:
        with Session(engine) as db:
            begin_write(db)  # queues behind the helper's holder of the write lock
            during.append(listeners())  # the holder has let go: the race is on
            db.commit()

    race(engine, select(literal(1)), attempt, attempt)
    assert during == [before + 1, before + 1]  # the helper's listener was still there for both
    assert listeners() == before  # and is gone once the race is over
    engine.dispose()
