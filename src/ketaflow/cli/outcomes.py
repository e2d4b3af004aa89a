"""CLI commands for outcomes and network analytics (being written; see its issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this topic's commands to the main app."""
    del app
