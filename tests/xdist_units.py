"""How `--dist loadfile` cuts the suite into work units and in what order it hands them out.

1. Each test file is one unit per engine kind: a file's SQLite tests and its PostgreSQL tests
   (told by the `sqlite`/`postgres` parameter of `ENGINE_KINDS` in the test's id) are two units,
   which the two workers can run at the same time; tests without a kind stay one unit per file.
   The database fixtures are per file and kind (`migrated`, `demo_engine` and the files' own are
   module-scoped and parametrized by kind), so a unit builds only its own kind's, and what one
   unit commits never reaches another.
2. The units that take longest are handed out first (`LONGEST`, measured), the rest in xdist's
   own order (most tests first): handed out last, a long unit ran alone on one worker while the
   other had finished; first, the short ones fill in around it and both workers end together.

This changes where and in what order tests run, never which tests run.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from xdist.scheduler import LoadFileScheduling

KINDS = ("sqlite", "postgres")

# The longest units, longest first (sum of their tests' setup, call and teardown times in the
# whole suite on 2 workers, `--durations=0`, 2026-12-06, on a shared and busy machine). A unit
# renamed or gone only loses its place in the queue.
LONGEST: tuple[str, ...] = (
    "tests/e2e/test_accessibility.py",
    "tests/integration/benchmarks/test_scripts_smoke.py",
    "tests/unit/demo/test_generator.py",
    "tests/integration/web/test_api_fuzz.py::postgres",
    "tests/unit/test_ci_mode.py",
    "tests/unit/demo/test_response_truth.py",
    "tests/integration/web/test_staff_accounts.py::postgres",
    "tests/integration/web/test_roles_accounts.py::postgres",
    "tests/integration/web/test_staff_accounts.py::sqlite",
    "tests/integration/fhir/test_bulk_export.py::postgres",
    "tests/integration/web/test_roles_portal.py::postgres",
    "tests/integration/demo/test_demo_build.py::postgres",
    "tests/integration/web/test_portal.py::postgres",
    "tests/integration/demo/test_demo_build.py::sqlite",
    "tests/integration/web/test_api_fuzz.py::sqlite",
    "tests/integration/fhir/test_bulk_export.py::sqlite",
    "tests/integration/web/test_roles_portal.py::sqlite",
    "tests/integration/analytics/test_ground_truth.py::postgres",
    "tests/integration/cli/test_backup_restore.py::postgres",
    "tests/e2e/test_patient_journey.py::postgres",
    "tests/e2e/test_patient_journey.py::sqlite",
)

_PLACE = {unit: i for i, unit in enumerate(LONGEST)}
_PARAMS = re.compile(r"\[(.*)\]$")


def engine_kind(nodeid: str) -> str | None:
    """The engine kind a test runs on, from the parameters in its id (`test_x[postgres-3]`)."""
    params = _PARAMS.search(nodeid)
    if params is None:
        return None
    parts = params.group(1).split("-")
    return next((kind for kind in KINDS if kind in parts), None)


def unit_of(nodeid: str) -> str:
    """The work unit of a test: its file, and its engine kind if it has one (`path.py::postgres`)."""
    path = nodeid.split("::", 1)[0]
    kind = engine_kind(nodeid)
    return f"{path}::{kind}" if kind else path


class FileAndKind(LoadFileScheduling):  # type: ignore[misc]
    """xdist's `loadfile` with a file's engine kinds as separate units and `LONGEST` handed out first."""

    _ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _assign_work_unit(self, node: Any) -> None:
        if not self._ordered:  # the queue is complete before the first unit is handed out
            self._ordered = True
            queue = sorted(self.workqueue.items(), key=lambda unit: _PLACE.get(unit[0], len(LONGEST)))
            self.workqueue = OrderedDict(queue)  # a stable sort: the rest keep xdist's order
        super()._assign_work_unit(node)


def make_scheduler(config: Any, log: Any) -> FileAndKind | None:
    """For the `pytest_xdist_make_scheduler` hook: ours under `--dist loadfile`, else xdist's own."""
    if config.getvalue("dist") == "loadfile":
        return FileAndKind(config, log)
    return None
