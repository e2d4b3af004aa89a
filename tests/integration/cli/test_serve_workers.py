"""`ketaflow serve` runs one worker process per core unless told otherwise."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.cli.system import default_workers


def test_the_default_is_one_worker_per_core() -> None:
    assert default_workers() == len(os.sched_getaffinity(0)) >= 1


def test_serve_explains_the_workers_option() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "one per core" in result.output
