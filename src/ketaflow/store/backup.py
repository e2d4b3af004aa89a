"""Online backup of a ketaflow database to one file, and its restore into an empty database.

- SQLite: the backup API (sqlite3's `Connection.backup`) copies the database page by page from one
  read transaction, so the copy is the database as it was at one moment while the server keeps
  writing (WAL mode: the reader blocks no writer). The copy is a plain SQLite file (journal mode
  DELETE), checked with `PRAGMA quick_check` before it takes its name.
- PostgreSQL: `pg_dump --format=custom`, which reads every table in one snapshot (REPEATABLE READ)
  and blocks no writer; its table of contents is read back with `pg_restore --list` before the
  file takes its name. Restore is `pg_restore --single-transaction --exit-on-error`: all or nothing.
  Objects are restored owned by the user restoring (`--no-owner`, the owner's URL) and without
  the dump's GRANTs (`--no-privileges`: the roles named there may not exist on another server).

Either way the file is written as FILE.partial and renamed when complete, so a FILE that exists is
a whole backup; it is readable by its owner only (it holds every patient's record).
A restore goes only into an empty database, so it can never mix two clinics' histories.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from ketaflow.errors import Conflict, InvalidInput, KetaflowError
from ketaflow.store.append_only import guarded_tables
from ketaflow.store.migrate import check_schema, current_revision
from ketaflow.store.pg_tools import dump_contents, find_pg_tool, libpq_target, run_reporting, server_major

# done, total: pages of an SQLite file, or tables of a PostgreSQL dump
Progress = Callable[[int, int], None]
SQLITE_STEP_PAGES = 1024  # 4 MiB a step at SQLite's default page size: the progress bar moves
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class BackupDone:
    path: Path
    engine: str
    schema: str | None
    size_bytes: int
    sha256: str
    seconds: float


@dataclass(frozen=True)
class RestoreDone:
    source: Path
    engine: str
    schema: str | None
    seconds: float


def _no_progress(_done: int, _total: int) -> None:
    return None


# ---- backup ------------------------------------------------------------------------------------


def backup_database(engine: Engine, out: Path, progress: Progress | None = None) -> BackupDone:
    """Write a backup of `engine`'s database to `out` (which must not exist yet), online."""
    out = Path(out)
    check_backup_target(out)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)  # a previous run that was killed midway
    started = time.monotonic()
    schema = current_revision(engine)
    try:
        if engine.dialect.name == "sqlite":
            _backup_sqlite(_sqlite_file(engine), partial, progress or _no_progress)
        else:
            _backup_postgres(engine, partial, progress or _no_progress)
        partial.chmod(0o600)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return BackupDone(
        path=out,
        engine=engine.dialect.name,
        schema=schema,
        size_bytes=out.stat().st_size,
        sha256=file_sha256(out),
        seconds=time.monotonic() - started,
    )


def check_backup_target(out: Path) -> None:
    """Refuse a backup file name that exists already or whose folder does not."""
    if out.exists():
        raise InvalidInput(
            f"{out} already exists; a backup never overwrites a file. Choose a new name "
            "(for example with the date and time in it) or move the old one away."
        )
    if not out.parent.is_dir():
        raise InvalidInput(f"The folder {out.parent} does not exist; create it or choose another --out.")


def _sqlite_file(engine: Engine) -> Path:
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise InvalidInput(
            f"{engine.url.render_as_string()} is not a database file; back up and restore need a "
            "file database (sqlite:///path/to/ketaflow.sqlite)."
        )
    return Path(name)


def _pages(progress: Progress) -> Callable[[int, int, int], None]:
    def step(_status: int, remaining: int, total: int) -> None:
        progress(total - remaining, total)

    return step


def _backup_sqlite(source: Path, partial: Path, progress: Progress) -> None:
    if not source.is_file():
        raise InvalidInput(f"There is no database file at {source}.")
    src = sqlite3.connect(source, isolation_level=None, timeout=30)
    dst = sqlite3.connect(partial, isolation_level=None)
    try:
        # One read transaction around every step: each step reads the same snapshot, so writers
        # (the server, in WAL mode) go on and the copy is the database at this one moment.
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        dst.execute("PRAGMA synchronous=FULL")
        src.backup(dst, pages=SQLITE_STEP_PAGES, progress=_pages(progress))
        src.execute("COMMIT")
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        found = [row[0] for row in dst.execute("PRAGMA quick_check").fetchall()]
        if found != ["ok"]:
            raise KetaflowError(f"The backup copy failed SQLite's check ({found[0]}); nothing was kept.")
    finally:
        dst.close()
        src.close()


def _backup_postgres(engine: Engine, partial: Path, progress: Progress) -> None:
    major = server_major(engine)
    pg_dump = find_pg_tool("pg_dump", major)
    pg_restore = find_pg_tool("pg_restore", major)
    total = len(user_tables(engine))
    target, env = libpq_target(engine.url)
    done = 0

    def on_line(line: str) -> None:
        nonlocal done
        if "dumping contents of table" in line:
            done += 1
            progress(done, total)

    run_reporting(
        [str(pg_dump.path), "--format=custom", "--verbose", f"--file={partial}", f"--dbname={target}"],
        env,
        on_line,
        "pg_dump failed and no backup was kept",
    )
    # The file's table of contents must read back: a truncated or garbled dump fails here.
    dump_contents(pg_restore.path, partial, env)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- restore -----------------------------------------------------------------------------------


def backup_kind(path: Path) -> str:
    """ "sqlite" or "postgresql": which engine's backup the file is (by its first bytes)."""
    if not path.is_file():
        raise InvalidInput(f"There is no backup file at {path}.")
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise InvalidInput(
        f"{path} is not a ketaflow backup (neither an SQLite database nor a pg_dump custom-format file)."
    )


def restore_database(engine: Engine, source: Path, progress: Progress | None = None) -> RestoreDone:
    """Restore the backup `source` into `engine`'s database, which must be empty.

    Check the result with `check_restored` afterwards (the CLI does)."""
    source = Path(source)
    kind = check_restorable(engine, source)
    started = time.monotonic()
    engine.dispose()  # no pooled connection sees the database before and after
    if kind == "sqlite":
        _restore_sqlite(source, _sqlite_file(engine), progress or _no_progress)
    else:
        _restore_postgres(engine, source, progress or _no_progress)
    engine.dispose()
    return RestoreDone(
        source=source, engine=kind, schema=current_revision(engine), seconds=time.monotonic() - started
    )


def check_restorable(engine: Engine, source: Path) -> str:
    """Refuse a file that is not a backup for this engine, or a target that is not empty; the
    backup's engine otherwise."""
    kind = backup_kind(Path(source))
    if kind != engine.dialect.name:
        raise InvalidInput(
            f"{source} is a {_engine_name(kind)} backup and the target is a "
            f"{_engine_name(engine.dialect.name)} database; restore it into a {_engine_name(kind)} "
            "database (moving between engines is not a restore)."
        )
    ensure_empty(engine)
    return kind


def _engine_name(dialect: str) -> str:
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(dialect, dialect)


def user_tables(engine: Engine) -> list[str]:
    """The tables (and views and sequences) the database holds besides the engine's own catalogue."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = (
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'"
            )
        else:
            sql = (
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
            )
        return sorted(conn.execute(text(sql)).scalars())


def ensure_empty(engine: Engine) -> None:
    """Refuse a target database that already holds tables (a restore never merges into one)."""
    if engine.dialect.name == "sqlite" and not _sqlite_file(engine).exists():
        return
    found = user_tables(engine)
    if found:
        shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        raise Conflict(
            f"The database at {engine.url.render_as_string()} is not empty (it holds {len(found)} tables: "
            f"{shown}), and a restore goes only into an empty database, so nothing was changed. "
            "Create a new, empty database and restore into it."
        )


def _restore_sqlite(source: Path, target: Path, progress: Progress) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    made = not target.exists()
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None)
    dst = sqlite3.connect(target, isolation_level=None, timeout=30)
    try:
        # The destination is locked for writing from the first step to the last and its old
        # (empty) content stays until the copy is complete: an interrupted restore leaves it empty.
        src.backup(dst, pages=SQLITE_STEP_PAGES, progress=_pages(progress))
    except sqlite3.DatabaseError as exc:
        dst.close()
        if made:  # leave no empty file behind where there was none
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        raise KetaflowError(
            f"{source} cannot be read as an SQLite backup ({exc}); nothing was restored."
        ) from exc
    finally:
        dst.close()
        src.close()


def _restore_postgres(engine: Engine, source: Path, progress: Progress) -> None:
    pg_restore = find_pg_tool("pg_restore", server_major(engine))
    target, env = libpq_target(engine.url)
    try:
        contents = dump_contents(pg_restore.path, source, env)
    except KetaflowError as exc:
        raise KetaflowError(f"{exc}; nothing was restored.") from exc
    entries = [line for line in contents if " TABLE DATA " in line]
    total = len(entries)
    done = 0

    def on_line(line: str) -> None:
        nonlocal done
        if "processing data for table" in line:
            done += 1
            progress(done, total)

    run_reporting(
        [
            str(pg_restore.path),
            "--verbose",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            f"--dbname={target}",
            str(source),
        ],
        env,
        on_line,
        "pg_restore failed, and nothing was restored (it runs as one transaction)",
    )


# ---- after a restore ---------------------------------------------------------------------------


def check_restored(engine: Engine) -> None:
    """The restored database is at this ketaflow's schema and passes the integrity checks;
    otherwise a KetaflowError says what is wrong (and what to do)."""
    check_schema(engine)
    problems = integrity_problems(engine)
    if problems:
        raise KetaflowError(
            "The restored database failed its integrity check: " + "; ".join(problems[:5]) + ". "
            "Do not serve it; restore an earlier backup into a new, empty database."
        )


def integrity_problems(engine: Engine) -> list[str]:
    """What is wrong with the database's structure, one sentence each (none when it is sound).

    SQLite: `PRAGMA integrity_check` and `PRAGMA foreign_key_check`. PostgreSQL: every constraint
    validated and no trigger disabled. Both: every append-only table keeps its guard trigger."""
    problems: list[str] = []
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = [row[0] for row in conn.exec_driver_sql("PRAGMA integrity_check").all()]
            if found != ["ok"]:
                problems += [f"SQLite reports {line}" for line in found]
            for table, _rowid, parent, _fk in conn.exec_driver_sql("PRAGMA foreign_key_check").all():
                problems.append(f"a row of {table} points at a missing row of {parent}")
            guards = set(
                conn.exec_driver_sql(
                    "SELECT tbl_name FROM sqlite_master "
                    "WHERE type = 'trigger' AND name = tbl_name || '_no_replace'"
                ).scalars()
            )
        else:
            for name, table in conn.exec_driver_sql(
                "SELECT con.conname, c.relname FROM pg_constraint con "
                "JOIN pg_class c ON c.oid = con.conrelid "
                "WHERE NOT con.convalidated AND pg_table_is_visible(c.oid)"
            ).all():
                problems.append(f"the constraint {name} of {table} is not validated")
            for name, table in conn.exec_driver_sql(
                "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND t.tgenabled = 'D' AND pg_table_is_visible(c.oid)"
            ).all():
                problems.append(f"the trigger {name} of {table} is disabled")
            guards = set(
                conn.exec_driver_sql(
                    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE NOT t.tgisinternal AND t.tgname = c.relname || '_no_truncate' "
                    "AND pg_table_is_visible(c.oid)"
                ).scalars()
            )
        guarded = guarded_tables(conn)
    if not guarded:
        problems.append("no table refuses UPDATE and DELETE (the append-only triggers are missing)")
    problems += [
        f"{t} refuses UPDATE and DELETE but not the ways around them" for t in guarded if t not in guards
    ]
    return problems
