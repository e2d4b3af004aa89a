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
import queue
import secrets
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.store.db_roles import AppRole, apply_app_role
from ketaflow.store.engine import make_engine
from ketaflow.store.migrate import upgrade
from tests.cheap_password_hashing import use_cheap_password_hashing
from tests.ci_mode import missing

if TYPE_CHECKING:
    from ketaflow.demo.settings import DemoSettings

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


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `--dist loadfile`: a unit per file and engine kind, the longest first (tests/xdist_units.py)."""
    from tests.xdist_units import make_scheduler

    return make_scheduler(config, log)


ENGINE_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=ENGINE_KINDS)
def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, templates: Templates
) -> Iterator[tuple[Engine, Engine]]:
    """(owner, app) engines on one migrated database, new for each test file and engine kind:
    what one file commits never reaches another, whatever order the files run in and however
    they are shared among pytest-xdist's workers. Each is a copy of the worker's migrated
    template (`Templates`), as new as a freshly migrated one, so this costs a file copy or a
    `CREATE DATABASE ... TEMPLATE`, not a migration.

    On PostgreSQL it is a database of its own on the test server, so parallel workers never
    share one (KETAFLOW_TEST_POSTGRES_URL names the server and a database the tests may use)."""
    databases = FreshDatabases(request.param, tmp_path_factory.mktemp("db"))
    owner = databases.new_migrated(templates)
    yield owner, databases.app_engine(owner)
    databases.drop_all()


@pytest.fixture(scope="module")
def engine(migrated: tuple[Engine, Engine]) -> Engine:
    """The migrated database as the application sees it (on PostgreSQL: as its own role)."""
    return migrated[1]


@pytest.fixture(scope="module")
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
        self.kind = kind
        self.folder = folder
        self.made: list[tuple[Engine, str | None]] = []
        self.roles: list[str] = []
        self.admin = (
            make_engine(postgres_url_or_skip(), isolation_level="AUTOCOMMIT") if kind == "postgres" else None
        )

    def new(self, like: str | None = None) -> Engine:
        """A new database: empty, or (`like`: a template from `Templates`) a copy of the template."""
        if self.admin is None:
            path = self.folder / f"fresh-{len(self.made)}.sqlite"
            if like is not None:
                shutil.copyfile(like, path)
                assert not Path(f"{like}-wal").exists(), "a template in use is being copied"
            eng = make_engine(f"sqlite:///{path}")
            self.made.append((eng, None))
            return eng
        name = f"ketaflow_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}" + (f" TEMPLATE {like}" if like else ""))
        eng = make_engine(self.admin.url.set(database=name).render_as_string(hide_password=False))
        self.made.append((eng, name))
        return eng

    def new_migrated(self, templates: Templates) -> Engine:
        """A new database at the current schema: a copy of the worker's migrated template."""
        return self.new(templates.migrated(self.kind))

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
        for eng, _name in self.made:
            eng.dispose()
        if self.admin is not None:
            # Databases first: a role holding privileges in one cannot go.
            DROPPER.drop(self.admin, [name for _eng, name in self.made if name], self.roles)


class Dropper:
    """Drops the PostgreSQL test databases, then their roles, in a thread of its own.

    PostgreSQL's DROP DATABASE waits for a checkpoint (every dirty page of the server written
    and synced), a second or more on a busy disk; the suite drops a database for each file and
    engine switch, and waiting for each held the test process idle for minutes in all. Here the
    drops happen in order while the tests go on, and `finish` (at the end of the session)
    waits for the last and reports any that failed."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[str, list[str], list[str]] | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.failures: list[str] = []

    def drop(self, admin: Engine, databases: list[str], roles: list[str]) -> None:
        url = admin.url.render_as_string(hide_password=False)
        admin.dispose()
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="drop-test-databases", daemon=True)
            self.thread.start()
        self.jobs.put((url, databases, roles))

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            url, databases, roles = job
            statements = [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in databases]
            statements += [f"DROP ROLE IF EXISTS {role}" for role in roles]
            try:
                admin = make_engine(url, isolation_level="AUTOCOMMIT")
                try:
                    with admin.connect() as conn:
                        for statement in statements:
                            conn.exec_driver_sql(statement)
                finally:
                    admin.dispose()
            except Exception as exc:  # reported by finish(): the thread must go on with the rest
                self.failures.append(f"{statements}: {exc}")

    def finish(self) -> list[str]:
        if self.thread is not None:
            self.jobs.put(None)
            self.thread.join()
            self.thread = None
        return self.failures


DROPPER = Dropper()


@pytest.fixture(scope="session", autouse=True)
def _dropped_at_the_end() -> Iterator[None]:
    """Wait for the test databases to be dropped after the last test. Autouse and first, this
    fixture is torn down after every other, so every drop has been asked for by then; one that
    failed is an error of the run, as it was when the drops happened in the teardowns."""
    yield
    failures = DROPPER.finish()
    assert not failures, "test databases or roles that could not be dropped:\n" + "\n".join(failures)


@pytest.fixture(params=ENGINE_KINDS)
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """A factory of brand-new empty databases, dropped after the test."""
    databases = FreshDatabases(request.param, tmp_path)
    yield databases.new
    databases.drop_all()


@pytest.fixture(params=ENGINE_KINDS)
def migrated_engine(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
) -> Iterator[Callable[[], Engine]]:
    """A factory of brand-new databases at the current schema, as the owner (each a copy of the
    worker's migrated template: no migration run again), dropped after the test."""
    databases = FreshDatabases(request.param, tmp_path)
    yield lambda: databases.new_migrated(templates)
    databases.drop_all()


@pytest.fixture(params=ENGINE_KINDS)
def demo_copy(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
) -> Iterator[Callable[[DemoSettings], Engine]]:
    """A factory of brand-new databases holding the demo network of the given settings, as the
    owner: each a copy of the network the worker built once with `build_network`. Dropped after
    the test. (Tests of the build itself build their own.)"""
    databases = FreshDatabases(request.param, tmp_path)
    yield lambda settings: databases.new(templates.demo(request.param, settings))
    databases.drop_all()


@pytest.fixture(scope="module", params=ENGINE_KINDS)
def demo_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, templates: Templates
) -> Iterator[Engine]:
    """A small demo network (2 clinics, 40 patients) built by the owner, as the application sees
    it (on PostgreSQL: as its own role).

    Like `migrated`, new for each test file and engine kind, so no file sees rows another file
    added (some tests count on the network as built: test_demo_controlled.py's pump total,
    test_chart_and_board_pages.py's statement count): a copy of the network the worker built
    once (`Templates.demo`)."""
    from ketaflow.demo.settings import DemoSettings

    databases = FreshDatabases(request.param, tmp_path_factory.mktemp("demo"))
    # A fixed as-of day: the network (its rows and ids) is then the same on every day the
    # suite runs; with today's date it changed daily, and so did which rows tests picked.
    settings = DemoSettings(clinics=2, patients=40, seed=21, as_of=DEMO_AS_OF)
    engine = databases.new(templates.demo(request.param, settings))
    yield databases.app_engine(engine)
    databases.drop_all()


class Templates:
    """Databases built once per test process (per pytest-xdist worker) and engine kind, copied
    for each use: a migrated schema, and demo networks by their settings.

    A copy is a new database holding exactly what the template holds (SQLite: a copy of the
    file; PostgreSQL: `CREATE DATABASE ... TEMPLATE`), so every user still starts from a database
    no other test wrote to, without migrating it (about 1 s) or building its network (3-7 s)
    again. Templates are only ever written while they are built, by the owner, and never get
    the application role (each copy gets its own, as a new database does)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.databases: dict[str, FreshDatabases] = {}
        self.built: dict[tuple[str, str], str] = {}

    def migrated(self, kind: str) -> str:
        return self._template(kind, "migrated", upgrade)

    def demo(self, kind: str, settings: DemoSettings) -> str:
        """A copy of the network `settings` describes, as `build_network` builds it (by the owner)."""
        from ketaflow.demo.build import build_network

        return self._template(kind, f"demo {settings.identity()}", lambda eng: build_network(eng, settings))

    def _template(self, kind: str, key: str, build: Callable[[Engine], object]) -> str:
        if (kind, key) not in self.built:
            if kind not in self.databases:
                folder = self.folder / kind
                folder.mkdir()
                self.databases[kind] = FreshDatabases(kind, folder)
            databases = self.databases[kind]
            engine = databases.new()
            build(engine)
            # No connection left: PostgreSQL copies only an unused template, and SQLite moves its
            # write-ahead log into the main file (the one copied) when its last connection closes.
            engine.dispose()
            source = engine.url.database
            assert source
            self.built[(kind, key)] = source
        return self.built[(kind, key)]

    def drop_all(self) -> None:
        for databases in self.databases.values():
            databases.drop_all()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """The worker's template databases (see `Templates`), dropped after its last test."""
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    made.drop_all()
