"""CLI commands for record integrity: `ketaflow verify` walks the hash chains and their signed
checkpoints; `ketaflow checkpoint` signs the chains as they stand (see store/chain.py)."""

from typing import Annotated

import typer

from ketaflow.cli.output import emit_json, fail, progress_bar
from ketaflow.cli.system import DatabaseUrl, _engine
from ketaflow.errors import KetaflowError


def _key() -> "bytes | None":
    from ketaflow.settings import get_settings

    try:
        return get_settings().resolved_audit_key()
    except KetaflowError as exc:
        fail(str(exc))


def _checked_engine(database_url: "str | None"):  # type: ignore[no-untyped-def]
    from ketaflow.store.migrate import check_schema

    engine = _engine(database_url)
    try:
        check_schema(engine)
    except KetaflowError as exc:
        fail(str(exc))
    return engine


def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Check every clinical fact and audit event against its hash chain and the signed
    checkpoints. Exit 0 when intact; else exit 1, naming each table, row and what is wrong."""
    from ketaflow.store.verify import expected_rows
    from ketaflow.store.verify import verify as walk

    key = _key()
    engine = _checked_engine(database_url)
    if as_json:
        report = walk(engine, key)
    else:
        with progress_bar("Verifying", "rows", total=expected_rows(engine)) as bar:
            report = walk(engine, key, progress=bar.advance)
    if as_json:
        emit_json(report.as_dict())
    else:
        for warning in report.warnings:
            typer.echo(f"Warning: {warning}", err=True)
        for p in report.problems:
            where = f"row {p.row_id}" if p.row_id else "no row"
            place = f" (place {p.seq})" if p.seq is not None else ""
            typer.echo(f"{p.table} [{p.chain}] {where}{place}: {p.kind}: {p.detail}")
        if report.unlisted:
            typer.echo(f"... and {report.unlisted} more problems not listed.")
        rate = f", {report.rows / report.seconds:,.0f} rows/s" if report.seconds else ""
        verdict = (
            "intact" if report.intact else f"NOT intact: {len(report.problems) + report.unlisted} problems"
        )
        typer.echo(
            f"{report.rows:,} rows in {report.chains} chains and {report.checkpoints} checkpoints "
            f"checked in {report.seconds:.1f} s{rate}: {verdict}."
        )
    if not report.intact:
        raise typer.Exit(code=1)


def checkpoint(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Sign every hash chain that grew since its last checkpoint with KETAFLOW_AUDIT_KEY (run it
    from cron, nightly after `ketaflow verify`)."""
    from ketaflow.store.checkpoints import write_checkpoints

    key = _key()
    if key is None:
        fail(
            "No audit key: set KETAFLOW_AUDIT_KEY (or KETAFLOW_AUDIT_KEY_FILE) to a secret of at least "
            '32 characters kept outside the database, e.g. from `python -c "import secrets; '
            'print(secrets.token_hex(32))"`.'
        )
    result = write_checkpoints(_checked_engine(database_url), key)
    if as_json:
        emit_json({"signed": result.signed, "chains": result.chains, "key_id": result.key_id})
        return
    typer.echo(f"Signed {result.signed} of {result.chains} chains (key {result.key_id}).")


def register(app: typer.Typer) -> None:
    app.command()(verify)
    app.command()(checkpoint)
