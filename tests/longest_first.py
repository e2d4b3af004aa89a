"""Under `--dist loadfile`, the files that take longest are handed to the workers first.

pytest-xdist queues the files by their number of tests, most first, and gives a worker the next
file whenever it is nearly out of work. The files that take longest have few tests (one build of a
1,500-patient network, a fuzzing run, a server killed mid-write), so they came last, and one worker
ran them alone while the other had finished. Handed out first, longest first, the short files then
fill in around them on both workers and the two end together.

`LONGEST` is the order measured (sum of each file's test times, both engines, as reported by
pytest's junit XML for the whole suite on 2 workers on 2026-12-06); a file not listed keeps
xdist's own place. A renamed or removed file here only loses its place in the queue: this changes
the order files are handed out in, never which tests run.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from xdist.scheduler import LoadFileScheduling

LONGEST = (
    "tests/integration/analytics/test_ground_truth.py",
    "tests/integration/web/test_api_fuzz.py",
    "tests/integration/cli/test_faults.py",
    "tests/e2e/test_accessibility.py",
    "tests/integration/benchmarks/test_scripts_smoke.py",
    "tests/integration/analytics/test_outcome_summaries.py",
    "tests/integration/store/test_chain.py",
    "tests/e2e/test_patient_journey.py",
    "tests/integration/cli/test_serve_sign_in.py",
    "tests/integration/demo/test_demo_build.py",
    "tests/integration/store/test_migrations.py",
    "tests/unit/demo/test_response_truth.py",
    "tests/integration/cli/test_backup_restore.py",
    "tests/integration/analytics/test_outcomes_cache.py",
    "tests/integration/cli/test_serve_races.py",
    "tests/test_code_health.py",
    "tests/unit/demo/test_generator.py",
)
_PLACE = {path: i for i, path in enumerate(LONGEST)}


class LongestFirst(LoadFileScheduling):  # type: ignore[misc]
    """xdist's `loadfile` scheduling with the files of `LONGEST` moved to the head of its queue."""

    _ordered = False

    def _assign_work_unit(self, node: Any) -> None:
        if not self._ordered:  # the queue is complete before the first file is handed out
            self._ordered = True
            queue = sorted(self.workqueue.items(), key=lambda unit: _PLACE.get(unit[0], len(LONGEST)))
            self.workqueue = OrderedDict(queue)  # a stable sort: the rest keep xdist's order
        super()._assign_work_unit(node)


def make_scheduler(config: Any, log: Any) -> LongestFirst | None:
    """For the `pytest_xdist_make_scheduler` hook: ours under `--dist loadfile`, else xdist's own."""
    if config.getvalue("dist") == "loadfile":
        return LongestFirst(config, log)
    return None
