"""Test databases: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL is used when KETAFLOW_TEST_POSTGRES_URL names a database the tests may
wipe (`.ci/run` creates a fresh one per run). Under CI=true it must be set: a skipped
PostgreSQL test there is a failure, not a pass.

On PostgreSQL the tests run as the application does in production: the database is migrated
by its owner (the test server's user), and `engine`, `db` and `demo_engine` connect as an
application role made by `ketaflow db roles`' own code (store/db_roles.py), named after the
database so parallel workers never share one. The whole suite thus shows that the app role's
privileges suffice. Tests that need an owner's powers (the triggers' own refusals, which the
app role never reaches because its privileges refuse first) take `owner_engine` / `owner_db`.
On SQLite, which has no roles, both are the same engine.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.store.db_roles import AppRole, apply_app_role
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


ENGINE_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=ENGINE_KINDS)
def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Engine]]:
    """(owner, app) engines on one migrated database, once per test session (per pytest-xdist
    worker) and engine kind.

    On PostgreSQL it is a database of its own on the test server, so parallel workers never
    share one (KETAFLOW_TEST_POSTGRES_URL names the server and a database the tests may use)."""
    databases = FreshDatabases(request.param, tmp_path_factory.mktemp("db"))
    owner = databases.new()
    upgrade(owner)
    yield owner, databases.app_engine(owner)
    databases.drop_all()


@pytest.fixture(scope="session")
def engine(migrated: tuple[Engine, Engine]) -> Engine:
    """The migrated database as the application sees it (on PostgreSQL: as its own role)."""
    return migrated[1]


@pytest.fixture(scope="session")
def owner_engine(migrated: tuple[Engine, Engine]) -> Engine:
    """The same database as `engine`, connected as the owner that migrated it."""
    return migrated[0]


@contextmanager
def _rolled_back(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back at the end (join-an-external-transaction)."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session as the application, whose work is rolled back after the test."""
    with _rolled_back(engine) as session:
        yield session


@pytest.fixture
def owner_db(owner_engine: Engine) -> Iterator[Session]:
    """A session as the owner of the tables, whose work is rolled back after the test."""
    with _rolled_back(owner_engine) as session:
        yield session


class FreshDatabases:
    """Makes brand-new empty databases (SQLite files or PostgreSQL databases) and drops them."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.folder = folder
        self.made: list[tuple[Engine, str | None]] = []
        self.roles: list[str] = []
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

    def app_engine(self, owner: Engine) -> Engine:
        """An engine on `owner`'s migrated database as the application's own role, made and granted
        the way `ketaflow db roles` does (on SQLite, which has no roles: `owner` itself). The role
        is named after the database (roles are cluster-wide) and dropped with it."""
        if self.admin is None:
            return owner
        role = AppRole(name=f"{owner.url.database}_app", password=secrets.token_hex(16))
        apply_app_role(owner, role)
        self.roles.append(role.name)
        url = owner.url.set(username=role.name, password=role.password)
        eng = make_engine(url.render_as_string(hide_password=False))
        self.made.append((eng, None))
        return eng

    def drop_all(self) -> None:
        for eng, name in self.made:
            eng.dispose()
            if self.admin is not None and name:
                with self.admin.connect() as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if self.admin is not None:
            with self.admin.connect() as conn:
                for role in self.roles:  # after its database: a role holding privileges cannot go
                    conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
            self.admin.dispose()


@pytest.fixture(params=ENGINE_KINDS)
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """A factory of brand-new empty databases, dropped after the test."""
    databases = FreshDatabases(request.param, tmp_path)
    yield databases.new
    databases.drop_all()


@pytest.fixture(scope="session", params=ENGINE_KINDS)
def demo_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A small demo network (2 clinics, 40 patients), built once per engine kind per test run by
    the owner, as the application sees it (on PostgreSQL: as its own role)."""
    from ketaflow.demo.build import build_network
    from ketaflow.demo.settings import DemoSettings

    databases = FreshDatabases(request.param, tmp_path_factory.mktemp("demo"))
    engine = databases.new()
    # A fixed as-of day: the network (its rows and ids) is then the same on every day the
    # suite runs; with today's date it changed daily, and so did which rows tests picked.
    build_network(engine, DemoSettings(clinics=2, patients=40, seed=21, as_of=DEMO_AS_OF))
    yield databases.app_engine(engine)
    databases.drop_all()
