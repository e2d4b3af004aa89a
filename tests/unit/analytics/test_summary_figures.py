"""A clinic's stored figures (JSON) rebuild the gathered aggregates exactly, rows in their order."""

from __future__ import annotations

import json
import uuid

from ketaflow.services.outcomes.gathered import Gathered, from_figures, per_clinic_figures
from ketaflow.store import outcome_queries as q


def test_figures_survive_json_and_keep_the_live_row_order() -> None:
    a, b, empty = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    g = Gathered(
        courses={a: q.CourseCounts(a, 10, 8, 1, 7, 4, 2), b: q.CourseCounts(b, 3, 3, 0, 3, 1, 0)},
        # interleaved clinics: the network's float sums must be added in this order again
        histogram=[(b, 2, 1, 0.1 + 0.2, 0.3**2), (a, 2, 3, 7.123456789012345, 51.0), (b, 5, 1, 1e-17, 1e-34)],
        infusions={a: (9, 80), b: (3, 20)},
        side_effects=[(a, "nausea", 5, 1), (b, "headache", 2, 0), (a, "headache", 1, 0)],
        adverse={a: 1},
        pauses={b: 2},
        recovery={a: (70, 8400.5, 1.0e6 / 3)},
    )
    figures = per_clinic_figures(g, [a, b, empty])
    stored = {cid: json.loads(json.dumps(f)) for cid, f in figures.items()}

    assert from_figures(stored) == g
    assert stored[empty] == {
        "courses": None,
        "histogram": [],
        "infusions": None,
        "side_effects": [],
        "adverse": None,
        "pauses": None,
        "recovery": None,
    }
    only_b = from_figures({b: stored[b]})
    assert only_b.histogram == [g.histogram[0], g.histogram[2]] and a not in only_b.courses
