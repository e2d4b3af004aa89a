"""The `ketaflow` command line: one Typer app, commands registered by topic modules."""

from __future__ import annotations

import sys

import typer

from ketaflow.errors import KetaflowError

app = typer.Typer(
    name="ketaflow",
    help="ketaflow: clinical software for IV ketamine infusion clinics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # Topic modules each add their commands; imported here so `ketaflow --help` lists them all.
    from ketaflow.cli import clinical, pk, system

    system.register(app)
    clinical.register(app)
    pk.register(app)


_register()


def main() -> None:
    """Run the CLI; a domain error or bad value becomes one sentence on stderr and exit code 2."""
    try:
        app(standalone_mode=True)
    except KetaflowError as exc:
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except ValueError as exc:
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(2)
