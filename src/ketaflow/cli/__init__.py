"""The `ketaflow` command line: one Typer app, commands registered by topic modules.

Start-up matters (every command is a new process; tests/unit/test_cli_startup.py checks what each
imports): topic modules import their domain inside the commands, and the CLI modules do not use
`from __future__ import annotations`, because Typer reads every command's signature on every start
and string annotations would be compiled and evaluated each time (types needed only by the type
checker are quoted instead).
"""

import sys

import typer

try:  # typer >= 0.25 carries its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError as _NoArgsIsHelp
    from typer._click.exceptions import UsageError as _UsageError
except ImportError:  # pragma: no cover - older typer on plain click
    from click.exceptions import NoArgsIsHelpError as _NoArgsIsHelp  # type: ignore[assignment]
    from click.exceptions import UsageError as _UsageError  # type: ignore[assignment]

from ketaflow.errors import KetaflowError

app = typer.Typer(
    name="ketaflow",
    help="ketaflow: clinical software for IV ketamine infusion clinics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain Click help for every command and group (the root's setting reaches them all): Typer's
    # boxed help imports Rich, which costs more than Typer itself on every `--help`.
    rich_markup_mode=None,
)


def _register() -> None:
    # Topic modules each add their commands; imported here so `ketaflow --help` lists them all.
    from ketaflow.cli import (
        backup,
        clinic,
        clinical,
        controlled,
        fhir,
        hl7,
        integrity,
        messages,
        outcomes,
        pk,
        sign_in,
        system,
    )

    system.register(app)
    clinical.register(app)
    pk.register(app)
    outcomes.register(app)
    clinic.register(app)
    sign_in.register(app)
    controlled.register(app)
    backup.register(app)
    integrity.register(app)
    messages.register(app)
    hl7.register(app)
    fhir.register(app)


_register()


def main() -> None:
    """Run the CLI. Bad input of any kind becomes one plain sentence on stderr and exit code 2."""
    try:
        code = app(prog_name="ketaflow", standalone_mode=False)
    except _NoArgsIsHelp as exc:  # `ketaflow` or `ketaflow pk` alone: show the help
        typer.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
        sys.exit(0)
    except _UsageError as exc:  # unknown option, a value of the wrong type, ...
        where = exc.ctx.command_path if exc.ctx else "ketaflow"
        typer.echo(f"Error: {exc.format_message().rstrip('.')} (see `{where} --help`).", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("Stopped.", err=True)
        sys.exit(1)
    except (KetaflowError, ValueError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
