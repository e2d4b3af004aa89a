"""CLI commands for the database, the demo network and the server."""

from __future__ import annotations

import typer

import ketaflow


def version() -> None:
    """Print the ketaflow version."""
    typer.echo(ketaflow.__version__)


def register(app: typer.Typer) -> None:
    """Add this topic's commands to the main app."""
    app.command()(version)
