"""`ketaflow serve` runs one worker process per core unless told otherwise."""

from __future__ import annotations

import gc
import os

from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.cli.system import default_workers
from ketaflow.web.asgi import GC_GEN0_THRESHOLD, tune_gc


def test_the_default_is_one_worker_per_core() -> None:
    assert default_workers() == len(os.sched_getaffinity(0)) >= 1


def test_serve_explains_the_workers_option() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "one per core" in result.output


def test_the_server_collects_young_garbage_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
