"""What the backup, restore and fault tests share: the pg_dump prerequisite and copies of a database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from ketaflow.errors import KetaflowError
from ketaflow.store.backup import backup_database, check_restored, restore_database
from ketaflow.store.pg_tools import find_pg_tool, server_major
from tests.ci_mode import missing
from tests.conftest import FreshDatabases


def needs_pg_tools(engine: Engine) -> None:
    """On PostgreSQL, pg_dump and pg_restore fit for the server (skipped without, failed in CI)."""
    if engine.dialect.name != "postgresql":
        return
    try:
        find_pg_tool("pg_dump", server_major(engine))
        find_pg_tool("pg_restore", server_major(engine))
    except KetaflowError as exc:
        missing(str(exc))


def databases_like(engine: Engine, folder: Path) -> FreshDatabases:
    """A maker of new empty databases on `engine`'s kind (SQLite files, PostgreSQL databases)."""
    return FreshDatabases("postgres" if engine.dialect.name == "postgresql" else "sqlite", folder)


def copy_of(engine: Engine, databases: FreshDatabases, folder: Path) -> Engine:
    """A new database holding what `engine`'s holds now (through a backup and a restore)."""
    needs_pg_tools(engine)
    out = folder / f"copy-{len(databases.made)}.backup"
    backup_database(engine, out)
    copy = databases.new()
    restore_database(copy, out)
    check_restored(copy)
    out.unlink()
    return copy
