"""CLI commands to back up the database while the server runs, and to restore a backup.

How they work is in `ketaflow.store.backup`; storage and the progress bar are imported inside the
commands (every `ketaflow` command loads this module to list its commands).
"""

from pathlib import Path
from typing import Annotated

import typer

from ketaflow.cli.output import emit_json, fail, progress_bar
from ketaflow.cli.system import DatabaseUrl, _engine
from ketaflow.errors import KetaflowError

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
UNIT = {"sqlite": "pages", "postgresql": "tables"}


def backup(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="The backup file to write (must not exist yet; e.g. with the date in its name)."
        ),
    ],
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Back up the database to one file while the server keeps running (SQLite: the backup API;
    PostgreSQL: pg_dump, custom format). Use the database owner's URL."""
    from ketaflow.store.backup import backup_database, check_backup_target

    engine = _engine(database_url)
    try:
        check_backup_target(out)
        with progress_bar("Backing up", UNIT.get(engine.dialect.name, "steps")) as bar:
            done = backup_database(engine, out, progress=bar.show)
    except KetaflowError as exc:
        fail(str(exc))
    if as_json:
        emit_json(
            {
                "file": str(done.path),
                "engine": done.engine,
                "schema": done.schema,
                "size_bytes": done.size_bytes,
                "sha256": done.sha256,
                "seconds": round(done.seconds, 3),
            }
        )
        return
    typer.echo(
        f"Backed up {engine.url.render_as_string()} (schema {done.schema}) to {done.path}: "
        f"{done.size_bytes / 1e6:,.1f} MB in {done.seconds:.1f} s, SHA-256 {done.sha256}."
    )


def restore(
    source: Annotated[Path, typer.Option("--from", help="A backup file written by `ketaflow backup`.")],
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Restore a backup into an EMPTY database (a non-empty one is refused), then check it: the
    schema this ketaflow expects, and the database's integrity. Use the database owner's URL."""
    from ketaflow.store.backup import check_restorable, restore_database

    engine = _engine(database_url)
    try:
        check_restorable(engine, source)
        with progress_bar("Restoring", UNIT.get(engine.dialect.name, "steps")) as bar:
            done = restore_database(engine, source, progress=bar.show)
    except KetaflowError as exc:
        fail(str(exc))
    try:
        check_after_restore(engine)
    except KetaflowError as exc:
        fail(f"The backup was restored into {engine.url.render_as_string()}, but: {exc}")
    # The dump's GRANTs are left out (their roles may not exist here): the app's own role gets its
    # grants again, as after `db upgrade` (with KETAFLOW_APP_DATABASE_URL set; else a reminder).
    from ketaflow.cli.system import _regrant

    if not as_json:
        _regrant(engine)
    elif engine.dialect.name == "postgresql":
        from ketaflow.settings import get_settings
        from ketaflow.store.db_roles import app_role_from_url, apply_app_role

        app_url = get_settings().app_database_url
        if app_url:
            apply_app_role(engine, app_role_from_url(app_url), create=False)
    if as_json:
        emit_json(
            {
                "from": str(done.source),
                "database": engine.url.render_as_string(),
                "schema": done.schema,
                "seconds": round(done.seconds, 3),
                "checked": True,
            }
        )
        return
    typer.echo(
        f"Restored {done.source} into {engine.url.render_as_string()} (schema {done.schema}) in "
        f"{done.seconds:.1f} s; schema and integrity checks passed."
    )


def check_after_restore(engine) -> None:  # type: ignore[no-untyped-def]
    """Everything a restored database must pass before it is served; raises a KetaflowError saying
    what failed. The schema is this ketaflow's, the integrity checks pass (`check_restored`) and
    every hash chain and signed checkpoint holds (`ketaflow verify`)."""
    from ketaflow.errors import KetaflowError
    from ketaflow.settings import get_settings
    from ketaflow.store.backup import check_restored
    from ketaflow.store.verify import verify

    check_restored(engine)
    # The hash chains and signed checkpoints (`ketaflow verify`): a backup rewritten while it lay on
    # a disk, or restored from a tampered copy, is refused before anyone serves it.
    report = verify(engine, get_settings().resolved_audit_key())
    if not report.intact:
        named = "; ".join(f"{p.table} row {p.row_id or '-'}: {p.kind}" for p in report.problems[:5])
        more = len(report.problems) + report.unlisted - 5
        tail = f" and {more} more" if more > 0 else ""
        raise KetaflowError(
            f"The restored database fails `ketaflow verify`: {named}{tail}. "
            "Do not serve it; restore an earlier backup and run `ketaflow verify` on it."
        )


def register(app: typer.Typer) -> None:
    """Add this topic's commands to the main app."""
    app.command()(backup)
    app.command()(restore)
