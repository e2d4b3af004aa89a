"""Schema migrations (Alembic) and the check that the database matches this program."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from ketaflow.errors import SchemaMismatch

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package always ships at least one migration
    return head


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One transaction for a migration run. On SQLite, foreign keys are off while it runs and
    checked in full before it commits: SQLite rebuilds a table to change a constraint, dropping
    the old table while rows of other tables still point at its rows (the procedure of SQLite's
    "ALTER TABLE" page, section 7). The pragma only takes effect outside a transaction, so it is
    set on the driver's connection before BEGIN and set back afterwards."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None  # a live connection
        if sqlite:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        table, _rowid, parent, _fk = broken[0]
                        raise SchemaMismatch(
                            f"The migration would leave {len(broken)} rows pointing at missing rows "
                            f"(first: {table} -> {parent}); nothing was changed."
                        )
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to `revision` (default: this program's schema)."""
    cfg = alembic_config()
    with _migrating(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with _migrating(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def check_schema(engine: Engine) -> None:
    """Refuse to run on a schema older or newer than this program's, saying what to do."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    url = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise SchemaMismatch(
            f"The database at {url} has no ketaflow schema yet; run `ketaflow db upgrade` "
            "(or `ketaflow demo-data` to build the demo network)."
        )
    if current in known_revisions():
        raise SchemaMismatch(
            f"The database at {url} is at schema {current}, older than this ketaflow's {head}; "
            "run `ketaflow db upgrade` to migrate it."
        )
    raise SchemaMismatch(
        f"The database at {url} is at schema {current}, which this ketaflow does not know: it was "
        "written by a newer version. Upgrade ketaflow (pip install -U ketaflow) before using it."
    )
