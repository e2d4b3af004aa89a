"""CLI commands for the database, the demo network and the server.

Storage, settings, the web app and the progress bar are imported inside the commands that use
them: every `ketaflow` command loads this module to list its commands.
"""

import dataclasses
from datetime import date
from typing import Annotated

import typer

import ketaflow
from ketaflow.cli.output import emit_json, fail, progress_bar
from ketaflow.errors import KetaflowError

db_app = typer.Typer(help="Create and migrate the database.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (sqlite:///file or postgresql://user@host/db); "
        "default: KETAFLOW_DATABASE_URL, else data/ketaflow.sqlite.",
    ),
]

AppDatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--app-database-url",
        help="The application's own URL, postgresql://ROLE:PASSWORD@host/db; default: "
        "KETAFLOW_APP_DATABASE_URL (prefer the variable: other users of the machine can see a command line).",
    ),
]


def _engine(database_url: str | None):  # type: ignore[no-untyped-def]
    from ketaflow.settings import get_settings
    from ketaflow.store.engine import make_engine

    try:
        return make_engine(database_url or get_settings().resolved_database_url())
    except KetaflowError as exc:
        fail(str(exc))


def version() -> None:
    """Print the ketaflow version."""
    typer.echo(ketaflow.__version__)


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Migrate the database to this ketaflow's schema (creates it when empty)."""
    from ketaflow.store.migrate import current_revision, head_revision, upgrade

    engine = _engine(database_url)
    before = current_revision(engine)
    try:
        upgrade(engine)
    except Exception as exc:  # noqa: BLE001 - report the driver's one-line reason
        fail(f"The migration failed and nothing was changed: {str(exc).splitlines()[0]}")
    typer.echo(f"Database schema: {before or 'empty'} -> {head_revision()} ({engine.url.render_as_string()})")
    _regrant(engine)


def _regrant(engine, *, hint: bool = True) -> None:  # type: ignore[no-untyped-def]
    """After a migration on PostgreSQL, give the app role (KETAFLOW_APP_DATABASE_URL) its grants on
    the tables as they are now; without that setting, say (with `hint`) that `db roles` must follow."""
    if engine.dialect.name != "postgresql":
        return
    from sqlalchemy.exc import DBAPIError

    from ketaflow.settings import get_settings
    from ketaflow.store.db_roles import app_role_from_url, apply_app_role

    try:
        app_url = get_settings().app_database_url
        if not app_url:
            if not hint:
                return
            typer.echo(
                "If the app connects as a role of its own, run `ketaflow db roles` now to grant it the "
                "tables as they are (or set KETAFLOW_APP_DATABASE_URL and `db upgrade` does it)."
            )
            return
        grants = apply_app_role(engine, app_role_from_url(app_url), create=False)
    except (KetaflowError, DBAPIError) as exc:
        fail(f"The schema is migrated, but the app role's grants were not re-applied: {_reason(exc)}")
    typer.echo(_grants_sentence(grants))


def _reason(exc: Exception) -> str:
    """One line saying why: our own sentence, or the database's first line (never the SQL sent)."""
    if isinstance(exc, KetaflowError):
        return str(exc)
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def _grants_sentence(grants) -> str:  # type: ignore[no-untyped-def]
    return (
        f"App role {grants.role} on {grants.database}: SELECT, INSERT on {len(grants.append_only)} "
        f"append-only tables; SELECT, INSERT, UPDATE, DELETE on {len(grants.mutable)} others; SELECT on "
        f"{', '.join(grants.read_only)}; USAGE on the schema and its sequences; nothing else."
    )


@db_app.command("roles")
def db_roles(
    database_url: DatabaseUrl = None,
    app_database_url: AppDatabaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """PostgreSQL: create the application's role and grant it only what the app needs.

    Run it connected as the owner (the role that runs `db upgrade`), naming the app's role by its
    URL (KETAFLOW_APP_DATABASE_URL); the password in that URL becomes the role's, and is never
    shown. Safe to run again: it re-applies the grants, so run it after every `db upgrade` (which
    does so itself when KETAFLOW_APP_DATABASE_URL is set). On SQLite it explains that roles do not
    apply and changes nothing."""
    from sqlalchemy.exc import DBAPIError

    from ketaflow.settings import get_settings
    from ketaflow.store.db_roles import app_role_from_url, apply_app_role

    engine = _engine(database_url)
    if engine.dialect.name == "sqlite":
        typer.echo(
            f"{engine.url.database} is an SQLite file: SQLite has no database roles, so there is nothing "
            "to create. Protect the file with file permissions instead: only the account that runs "
            "ketaflow may read or write it and its -wal and -shm files (chmod 600, in a folder chmod 700)."
        )
        return
    try:
        app_url = app_database_url or get_settings().app_database_url
        if not app_url:
            fail(
                "Name the application's role by its URL: set KETAFLOW_APP_DATABASE_URL="
                "postgresql://ketaflow_app:PASSWORD@host/dbname (or give --app-database-url)."
            )
        grants = apply_app_role(engine, app_role_from_url(app_url))
    except (KetaflowError, DBAPIError) as exc:
        fail(f"Nothing was changed: {_reason(exc)}")
    if as_json:
        emit_json(dataclasses.asdict(grants))
        return
    if grants.created:
        typer.echo(
            f"Created the role {grants.role} (LOGIN; not a superuser; may not create roles or databases)."
        )
    typer.echo(_grants_sentence(grants))
    typer.echo(
        "Serve with KETAFLOW_APP_DATABASE_URL set to the app's URL; run `ketaflow db roles` again after "
        "each `db upgrade` unless that variable is set for it too."
    )


@db_app.command("status")
def db_status(database_url: DatabaseUrl = None) -> None:
    """Say whether the database schema matches this ketaflow."""
    from ketaflow.store.migrate import check_schema

    engine = _engine(database_url)
    try:
        check_schema(engine)
    except KetaflowError as exc:
        fail(str(exc))
    typer.echo(f"The schema of {engine.url.render_as_string()} is up to date.")


def demo_data(
    clinics: Annotated[int, typer.Option(min=1, max=50, help="Number of clinics.")] = 9,
    patients: Annotated[int, typer.Option(min=1, max=1_000_000, help="Number of patients.")] = 3500,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same network.")] = 7,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Day the history runs up to (YYYY-MM-DD); default: an existing build's, else today."
        ),
    ] = None,
    rebuild: Annotated[bool, typer.Option(help="Drop everything in the database and build anew.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the deterministic synthetic clinic network (resumable; one transaction per clinic)."""
    from ketaflow.demo.settings import DemoSettings

    engine = _engine(database_url)
    settings = _demo_settings(
        engine, clinics=clinics, patients=patients, seed=seed, as_of=as_of, rebuild=rebuild
    )
    result = _build(engine, settings, rebuild=rebuild)
    counts = result.counts
    typer.echo(
        f"Demo network {result.status}: {counts['clinics']} clinics, {counts['patients']:,} patients, "
        f"{counts['infusion_sessions']:,} infusion sessions, {counts['vital_signs']:,} vital-sign sets, "
        f"{counts['questionnaire_responses']:,} questionnaires."
    )
    _regrant(engine, hint=False)  # --rebuild dropped the tables and their grants with them
    if engine.dialect.name == "postgresql":
        # The outcomes dashboard reads a stored summary on PostgreSQL; write the first one now.
        from ketaflow.services.outcomes.summary import refresh_outcome_summaries

        r = refresh_outcome_summaries(engine)
        typer.echo(f"Outcome summary stored for {r.clinics} clinics ({r.seconds:.1f} s).")
    del DemoSettings


def _demo_settings(engine, *, clinics: int, patients: int, seed: int, as_of: str | None, rebuild: bool):  # type: ignore[no-untyped-def]
    from ketaflow.demo.build import existing_settings
    from ketaflow.demo.settings import DemoSettings

    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            fail(f"--as-of must be a date written YYYY-MM-DD; got {as_of!r}.")
    else:
        previous = None if rebuild else existing_settings(engine)
        day = previous.as_of if previous else date.today()
    return DemoSettings(clinics=clinics, patients=patients, seed=seed, as_of=day)


def _build(engine, settings, *, rebuild: bool):  # type: ignore[no-untyped-def]
    from ketaflow.demo.build import build_network

    with progress_bar("Building demo network", "patients", total=settings.patients) as bar:
        try:
            return build_network(engine, settings, rebuild=rebuild, progress=bar.advance)
        except KetaflowError as exc:
            fail(str(exc))


def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Print row counts per table and per clinic."""
    from ketaflow.store.migrate import check_schema
    from ketaflow.store.stats import clinic_counts, table_counts

    engine = _engine(database_url)
    try:
        check_schema(engine)
    except KetaflowError as exc:
        fail(str(exc))
    tables = table_counts(engine)
    clinics = clinic_counts(engine)
    if as_json:
        emit_json({"database": engine.url.render_as_string(), "tables": tables, "clinics": clinics})
        return
    typer.echo(f"Database: {engine.url.render_as_string()}")
    for name, count in tables.items():
        typer.echo(f"  {name:<26} {count:>10,}")
    typer.echo("Per clinic (patients / infusion sessions / vital-sign sets):")
    for c in clinics:
        n = c["counts"]
        typer.echo(
            f"  {c['code']:<6} {c['name']:<28} {n['patients']:>6,} "
            f"{n['infusion_sessions']:>8,} {n['vital_signs']:>10,}"
        )


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=0, max=32, help="Worker processes; 0 (the default) means one per core, as `nproc` reports."
        ),
    ] = 0,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the web app on a database that is already migrated.

    It connects by --database-url, else KETAFLOW_APP_DATABASE_URL (on PostgreSQL the app's own
    role, see `ketaflow db roles`), else KETAFLOW_DATABASE_URL."""
    from ketaflow.settings import get_settings

    try:
        url = database_url or get_settings().resolved_app_database_url()
    except KetaflowError as exc:
        fail(str(exc))
    _serve(_engine(url), host, port, workers or default_workers())


def default_workers() -> int:
    """One worker process per core this process may run on (each worker is one Python interpreter)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _serve(engine, host: str, port: int, workers: int = 1) -> None:  # type: ignore[no-untyped-def]
    import os

    import uvicorn

    from ketaflow.settings import get_settings
    from ketaflow.store.db_roles import owner_powers
    from ketaflow.store.migrate import check_schema
    from ketaflow.web.app import create_app

    try:
        get_settings()  # a bad KETAFLOW_ setting stops the start, not a patient's link later
        check_schema(engine)
    except KetaflowError as exc:
        fail(str(exc))
    powers = owner_powers(engine)
    if powers:
        typer.echo(
            f"Warning: {powers}, so the app could disable the triggers that keep clinical facts and the "
            "audit trail append-only. Serve as the app's own role: `ketaflow db roles`, then set "
            "KETAFLOW_APP_DATABASE_URL (README, Storage).",
            err=True,
        )
    _start_outbox_worker(engine)
    plural = "es" if workers > 1 else ""
    typer.echo(
        f"ketaflow is serving on http://{host}:{port} with {workers} worker process{plural} (Ctrl+C to stop)"
    )
    # uvicorn's access log is off: the app writes its own (ketaflow.web.access_log: one JSON line
    # per request, route templates only), to stderr or KETAFLOW_ACCESS_LOG.
    # No proxy headers here: the app believes them only from KETAFLOW_TRUSTED_PROXIES (uvicorn
    # would otherwise believe any process on 127.0.0.1).
    options = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
    }
    if workers == 1:
        from ketaflow.web import access_log
        from ketaflow.web.asgi import tune_gc

        access_log.configure(get_settings().access_log)
        app = create_app(engine)
        tune_gc()
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    # Each worker process builds its own app (and engine) from the same database URL. On
    # SQLite the workers share the file in WAL mode: reads run side by side, writes take
    # turns (busy_timeout between processes).
    os.environ["KETAFLOW_APP_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    uvicorn.run("ketaflow.web.asgi:create", factory=True, workers=workers, **options)  # type: ignore[arg-type]


def _start_outbox_worker(engine) -> None:  # type: ignore[no-untyped-def]
    """Send the outbox's messages in the background (issue 17), if a mail server is configured."""
    from ketaflow.messaging.smtp import SmtpConfig, SmtpSender
    from ketaflow.services.outbox_worker import OutboxWorker
    from ketaflow.settings import get_settings
    from ketaflow.store.models import utcnow

    settings = get_settings()
    if settings.smtp_url is None or not settings.smtp_url.get_secret_value().strip():
        typer.echo("Messages wait in the outbox: set KETAFLOW_SMTP_URL to send them.", err=True)
        return
    if not settings.public_url:
        typer.echo(
            "Messages wait in the outbox: set KETAFLOW_PUBLIC_URL (their links are built on it).", err=True
        )
        return
    try:
        sender = SmtpSender(SmtpConfig.from_url(settings.smtp_url.get_secret_value()))
    except KetaflowError as exc:
        fail(str(exc))
    OutboxWorker(
        engine,
        sender,
        mail_from=settings.mail_from,
        public_url=settings.public_url,
        escalate_minutes=settings.alert_escalate_minutes,
        clock=utcnow,
    ).start()
    typer.echo("Messages: sending the outbox in the background through KETAFLOW_SMTP_URL.")


def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    monitors: Annotated[
        bool,
        typer.Option(
            "--monitors",
            help="Also run bedside monitors: register one per chair where a clinic has none, listen for "
            "HL7 (MLLP) on 127.0.0.1:--hl7-port and send each seated chair's readings to it.",
        ),
    ] = False,
    hl7_port: Annotated[
        int, typer.Option("--hl7-port", min=1, max=65535, help="The monitors' MLLP port (with --monitors).")
    ] = 2575,
    monitor_interval_s: Annotated[
        float, typer.Option("--monitor-interval-s", min=1.0, help="Seconds between a monitor's readings.")
    ] = 30.0,
    database_url: DatabaseUrl = None,
) -> None:
    """Build the demo network if it is not there yet, print the demo logins, and serve the app
    (with --monitors, also simulated bedside monitors charting into the chairs)."""
    from ketaflow.demo.build import existing_settings, is_complete
    from ketaflow.demo.catalog import DEMO_PASSWORD
    from ketaflow.demo.generate import network_rows
    from ketaflow.demo.settings import DemoSettings

    engine = _engine(database_url)
    settings = existing_settings(engine) or DemoSettings()
    if not is_complete(engine):
        _build(engine, settings, rebuild=False)
        _sign_demo(engine)
    else:
        from ketaflow.store.migrate import check_schema

        try:
            check_schema(engine)
        except KetaflowError as exc:
            fail(str(exc))
    typer.echo(f"Demo network ready in {engine.url.render_as_string()} (as of {settings.as_of}).")
    typer.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for email, role, clinic in network_rows(dataclasses.replace(settings), "").logins[:8]:
        typer.echo(f"  {email:<42} {role:<13} {clinic}")
    typer.echo("  ... and the same pattern for every clinic (nurse1.<code>, psychiatrist1.<code>, ...).")
    if monitors:
        from ketaflow.workers.monitor_simulator import demo_monitors

        try:
            demo_monitors(
                engine,
                port=hl7_port,
                interval_s=monitor_interval_s,
                say=lambda line: typer.echo(line, err=True),
            )
        except OSError as exc:
            fail(f"{exc}; choose another --hl7-port or stop what uses it.")
    _serve(engine, host, port)


def _sign_demo(engine) -> None:  # type: ignore[no-untyped-def]
    """Sign the demo's chains; with no audit key configured, make `<data_dir>/audit.key` first."""
    from ketaflow.settings import get_settings
    from ketaflow.store.checkpoints import make_key_file, write_checkpoints

    settings = get_settings()
    try:
        key = settings.resolved_audit_key()
        if key is None:
            path = settings.data_dir / "audit.key"
            make_key_file(path)
            typer.echo(f"Made an audit key for the demo in {path}: it signs the checkpoints; keep a copy.")
            key = settings.resolved_audit_key()
    except KetaflowError as exc:
        fail(str(exc))
    assert key is not None
    write_checkpoints(engine, key)


def reset_link(
    email: Annotated[str, typer.Argument(help="The staff member's e-mail address.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Print a one-time link (valid for an hour) for a staff member to set a new password.

    For an administrator who cannot sign in; in the app, the administrator or the person's
    director makes such links on the staff page. Anyone who can run this holds the database's
    credentials already; the link is audited as made from the command line."""
    from ketaflow.services.staff_accounts import RESET_VALID_MINUTES, operator_reset_link
    from ketaflow.settings import get_settings
    from ketaflow.store.engine import make_sessionmaker
    from ketaflow.store.models import utcnow

    engine = _engine(database_url)
    try:
        with make_sessionmaker(engine)() as db:
            issued = operator_reset_link(db, email, utcnow())
        base = get_settings().public_url or f"http://{get_settings().host}:{get_settings().port}"
    except KetaflowError as exc:
        fail(str(exc))
    typer.echo(f"One-time link for {issued.user.email} (works once, for {RESET_VALID_MINUTES} minutes):")
    typer.echo(f"  {base}/reset/{issued.token}")


def register(app: typer.Typer) -> None:
    """Add this topic's commands to the main app."""
    app.command()(version)
    app.add_typer(db_app, name="db")
    app.command("demo-data")(demo_data)
    app.command()(stats)
    app.command()(serve)
    app.command()(demo)
    app.command("reset-link")(reset_link)
