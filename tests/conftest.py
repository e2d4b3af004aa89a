"""Test databases: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL is used when KETAFLOW_TEST_POSTGRES_URL names a database the tests may
wipe (`.ci/run` creates a fresh one per run). Under CI=true it must be set: a skipped
PostgreSQL test there is a failure, not a pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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
