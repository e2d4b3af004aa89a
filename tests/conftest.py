"""Test databases: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL is used when KETAFLOW_TEST_POSTGRES_URL names a database the tests may
wipe (`.ci/run` creates a fresh one per run). Under CI=true it must be set: a skipped
PostgreSQL test there is a failure, not a pass.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.store.engine import make_engine
from ketaflow.store.migrate import upgrade

POSTGRES_URL = os.environ.get("KETAFLOW_TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_url_or_skip() -> str:
    """The PostgreSQL test URL; skip without it locally, fail without it in CI."""
    if POSTGRES_URL:
        return POSTGRES_URL
    if IN_CI:
        pytest.fail("CI=true but KETAFLOW_TEST_POSTGRES_URL is not set: the PostgreSQL tests must run in CI.")
    pytest.skip("PostgreSQL tests need KETAFLOW_TEST_POSTGRES_URL (`.ci/run` sets it).")


def reset_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database engine, once per test session and engine kind."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}")
    else:
        eng = make_engine(postgres_url_or_skip())
        reset_postgres(eng)
    upgrade(eng)
    yield eng
    eng.dispose()


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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """A factory of brand-new empty databases (files, or PostgreSQL databases), dropped after."""
    made: list[tuple[Engine, str | None]] = []
    admin: Engine | None = None
    if request.param == "postgres":
        admin = make_engine(postgres_url_or_skip(), isolation_level="AUTOCOMMIT")

    def factory() -> Engine:
        if admin is None:
            eng = make_engine(f"sqlite:///{tmp_path / f'fresh-{len(made)}.sqlite'}")
            made.append((eng, None))
            return eng
        name = f"ketaflow_t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        eng = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
        made.append((eng, name))
        return eng

    yield factory
    for eng, name in made:
        eng.dispose()
        if admin is not None and name:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if admin is not None:
        admin.dispose()
