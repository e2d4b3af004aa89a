"""`ketaflow messages`: deliver what is due in the outbox once (`send`), and show the outbox (`list`).

`send` plans the day-before reminders now due, escalates unacknowledged alerts, and sends every
due message through KETAFLOW_SMTP_URL, each once (services/outbox.py). Run it from cron (every
minute) or let `serve` run it. With the mail server down nothing is lost: the messages wait and
the next run sends them.
"""

from datetime import datetime
from typing import Annotated, Any

import typer

from ketaflow.cli.output import emit_json, fail
from ketaflow.cli.system import DatabaseUrl, _engine
from ketaflow.errors import KetaflowError

messages_app = typer.Typer(
    help="Messages to patients and staff: send what is due, list the outbox.",
    no_args_is_help=True,
)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
At = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Act as if it were this time (ISO 8601 with a zone, e.g. 2026-11-25T16:00:00+00:00): "
        "for a demo network built for another day. Default: the clock.",
    ),
]


def _checked_engine(database_url: str | None) -> Any:
    from ketaflow.store.migrate import check_schema

    engine = _engine(database_url)
    try:
        check_schema(engine)
    except KetaflowError as exc:
        fail(str(exc))
    return engine


def _now(value: str | None) -> Any:
    from ketaflow.store.models import utcnow

    if not value:
        return utcnow()
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--now {value!r} is not an ISO 8601 time; e.g. 2026-11-25T16:00:00+00:00.")
    if at.tzinfo is None:
        fail("--now needs a zone (e.g. +00:00): times are stored in UTC.")
    return at


@messages_app.command("send")
def send(as_json: AsJson = False, now: At = None, database_url: DatabaseUrl = None) -> None:
    """Send every message due now, once, and exit (exit 1 if some could not be sent yet)."""
    from sqlalchemy.orm import Session

    from ketaflow.messaging.smtp import SmtpConfig, SmtpSender
    from ketaflow.services import alerts, outbox
    from ketaflow.settings import get_settings

    try:
        settings = get_settings()
        if settings.smtp_url is None or not settings.smtp_url.get_secret_value().strip():
            raise KetaflowError(
                "Set KETAFLOW_SMTP_URL to the mail server (e.g. smtp+starttls://user:password@host:587); "
                "messages wait in the outbox until then."
            )
        sender = SmtpSender(SmtpConfig.from_url(settings.smtp_url.get_secret_value()))
        outbox.public_base(settings.public_url)  # refuses now, before anything is claimed
    except KetaflowError as exc:
        fail(str(exc))
    at = _now(now)
    engine = _checked_engine(database_url)

    def session() -> Session:
        return Session(engine, expire_on_commit=False)

    with session() as db:
        planned = outbox.plan_due(db, at)
    with session() as db:
        escalated = alerts.escalate_due(db, at, settings.alert_escalate_minutes)

    def progress(report: outbox.DeliveryReport) -> None:
        done = report.sent + report.retried + report.skipped + report.failed
        if not as_json and done % 50 == 0:
            typer.echo(f"... {done} handled ({report.sent} sent)", err=True)

    report = outbox.deliver_due(
        session,
        sender,
        at,
        mail_from=settings.mail_from,
        public_url=settings.public_url,
        escalate_minutes=settings.alert_escalate_minutes,
        progress=progress,
    )
    if as_json:
        emit_json(
            {
                "planned": planned,
                "escalated": escalated,
                "sent": report.sent,
                "retry_later": report.retried,
                "skipped": report.skipped,
                "failed": report.failed,
                "errors": sorted(set(report.errors)),
            }
        )
    else:
        typer.echo(
            f"{report.sent} sent, {report.retried} to retry later, {report.skipped} skipped "
            f"(not allowed to go out), {report.failed} refused by the server; "
            f"{planned} reminders planned, {escalated} alerts escalated."
        )
        for error in sorted(set(report.errors)):
            typer.echo(f"  {error}", err=True)
    if report.retried:
        raise typer.Exit(1)


@messages_app.command("list")
def list_outbox(
    as_json: AsJson = False,
    state: Annotated[
        str | None, typer.Option("--state", help="Only this state: pending, sending, sent, skipped, failed.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The outbox's most recent messages with their state (never their text or links)."""
    from sqlalchemy.orm import Session

    from ketaflow.services import outbox

    engine = _checked_engine(database_url)
    with Session(engine) as db:
        try:
            rows = outbox.listing(db, state=state)
        except KetaflowError as exc:
            fail(str(exc))
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    for r in rows:
        typer.echo(
            f"{r.created_at:%Y-%m-%d %H:%M} {r.kind:<22} {r.state:<8} tries {r.attempts}"
            f"{'  ' + r.last_error if r.last_error else ''}"
        )
    if not rows:
        typer.echo("The outbox is empty.")


def register(app: typer.Typer) -> None:
    app.add_typer(messages_app, name="messages")
