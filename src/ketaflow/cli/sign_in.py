"""CLI commands for sign-in administration: unlocking an account after too many failed sign-ins."""

from typing import Annotated

import typer

from ketaflow.cli.output import fail
from ketaflow.cli.system import DatabaseUrl, _engine
from ketaflow.errors import KetaflowError

user_app = typer.Typer(help="Staff accounts' sign-in: unlock an account.", no_args_is_help=True)


@user_app.command("unlock")
def unlock(
    email: Annotated[str, typer.Argument(help="The locked account's e-mail address.")],
    as_: Annotated[
        str,
        typer.Option(
            "--as",
            help="Your staff e-mail address: the unlock is recorded under your name (administrators only).",
        ),
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Unlock an account locked after too many consecutive failed sign-ins (NIST SP 800-63B §5.2.2)."""
    from sqlalchemy.orm import Session

    from ketaflow.input_rules import email_lookup_key
    from ketaflow.services.audit import cli_origin
    from ketaflow.services.auth import unlock as unlock_account
    from ketaflow.services.operators import acting_staff
    from ketaflow.store.migrate import check_schema

    engine = _engine(database_url)
    try:
        check_schema(engine)
        with Session(engine, expire_on_commit=False) as db:
            was_locked = unlock_account(db, acting_staff(db, as_, cli_origin("user unlock")), email)
    except KetaflowError as exc:
        fail(str(exc))
    if was_locked:
        typer.echo(f"Unlocked {email_lookup_key(email)}: they can sign in again.")
    else:
        typer.echo(f"{email_lookup_key(email)} was not locked; its count of failed sign-ins is cleared.")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
