"""Test databases: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL is used when KETAFLOW_TEST_POSTGRES_URL names a database the tests may
wipe (`.ci/run` creates a fresh one per run). Under CI=true it must be set: a skipped
PostgreSQL test there is a failure, not a pass.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.store.engine import make_engine
from ketaflow.store.migrate import upgrade
from tests.cheap_password_hashing import use_cheap_password_hashing
from tests.ci_mode import missing

# argon2 at its cheapest in tests; the production parameters: tests/unit/test_password_hashing.py
use_cheap_password_hashing()

POSTGRES_URL = os.environ.get("KETAFLOW_TEST_POSTGRES_URL")
DEMO_AS_OF = date(2026, 11, 25)  # the shared demo test network's as-of day (see demo_engine)


def postgres_url_or_skip() -> str:
    """The PostgreSQL test URL; skip without it locally, fail without it in CI."""
    if POSTGRES_URL:
        return POSTGRES_URL
    missing(
        "KETAFLOW_TEST_POSTGRES_URL is not set, so the PostgreSQL tests cannot run; "
        "point it at a database they may wipe (`.ci/run` creates one)."
    )


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database engine, once per test session (per pytest-xdist worker) and engine kind.

    On PostgreSQL it is a database of its own on the test server, so parallel workers never
    share one (KETAFLOW_TEST_POSTGRES_URL names the server and a database the tests may use)."""
    databases = FreshDatabases(request.param, tmp_path_factory.mktemp("db"))
    eng = databases.new()
    upgrade(eng)
    yield eng
    databases.drop_all()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test (join-an-external-transaction)."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


class FreshDatabases:
    """Makes brand-new empty databases (SQLite files or PostgreSQL databases) and drops them."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.folder = folder
        self.made: list[tuple[Engine, str | None]] = []
        self.admin = (
            make_engine(postgres_url_or_skip(), isolation_level="AUTOCOMMIT") if kind == "postgres" else None
        )

    def new(self) -> Engine:
        if self.admin is None:
            eng = make_engine(f"sqlite:///{self.folder / f'fresh-{len(self.made)}.sqlite'}")
            self.made.append((eng, None))
            return eng
        name = f"ketaflow_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        eng = make_engine(self.admin.url.set(database=name).render_as_string(hide_password=False))
        self.made.append((eng, name))
        return eng

    def drop_all(self) -> None:
        for eng, name in self.made:
            eng.dispose()
            if self.admin is not None and name:
                with self.admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if self.admin is not None:
            self.admin.dispose()


ENGINE_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINE_KINDS)
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """A factory of brand-new empty databases, dropped after the test."""
    databases = FreshDatabases(request.param, tmp_path)
    yield databases.new
    databases.drop_all()


@pytest.fixture(scope="session", params=ENGINE_KINDS)
def demo_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A small demo network (2 clinics, 40 patients), built once per engine kind per test run."""
    from ketaflow.demo.build import build_network
    from ketaflow.demo.settings import DemoSettings

    databases = FreshDatabases(request.param, tmp_path_factory.mktemp("demo"))
    engine = databases.new()
    # A fixed as-of day: the network (its rows and ids) is then the same on every day the
    # suite runs; with today's date it changed daily, and so did which rows tests picked.
    build_network(engine, DemoSettings(clinics=2, patients=40, seed=21, as_of=DEMO_AS_OF))
    yield engine
    databases.drop_all()
