"""The generator's response rate is the right ground truth for the population the analytics measure.

The outcomes dashboard estimates the response rate among depression courses that completed
induction and have an end-of-induction PHQ-9 ("evaluable"), and compares its 95% interval with
`DemoSettings.response_fraction`. That comparison is fair only if (1) the analytics' response
is the generator's responder draw, course by course; (2) which courses are evaluable does not
depend on those draws, so the expected rate among them is still the setting; and (3) the draws
are calibrated, so a 95% interval misses the setting about one network in twenty and no more.
Each is checked here in memory (no database) on eight small networks, seeds fixed before the
first run (pooled: 5,123 evaluable courses, 53.97% responders, 0.5 standard errors from 0.536).

On the default demo network (9 clinics, 3,500 patients, seed 7) the interval misses 0.536 by
chance: the generator itself drew 1,568 responders among the 2,797 evaluable courses (56.1%,
2.6 standard errors above the setting, while their mean response probability is 0.533).
"""

from __future__ import annotations

import math
from datetime import date
from functools import cache

import pytest

from ketaflow.analytics import proportion
from ketaflow.demo.settings import DemoSettings
from ketaflow.demo.truth import ResponseTruth, response_truth

SEEDS = range(1, 9)

pytestmark = pytest.mark.slow  # about 15 s: 8 networks of 800 patients generated in memory


def _settings(seed: int) -> DemoSettings:
    return DemoSettings(clinics=1, patients=800, seed=seed, as_of=date(2026, 3, 1), vitals_every_min=60)


@cache
def truth(seed: int) -> ResponseTruth:
    return response_truth(_settings(seed))


TARGET = _settings(1).response_fraction


def test_the_analytics_response_is_the_generators_responder_draw_course_by_course() -> None:
    courses = [c for seed in SEEDS for c in truth(seed).courses]
    assert len(courses) > 4000
    assert [c.responded for c in courses] == [c.course.responder for c in courses]


def test_the_expected_rate_among_evaluable_courses_is_the_setting() -> None:
    # Mean response probability (from each course's latent draws) of the evaluable courses:
    # equal to the setting unless evaluability depended on the draws. Tolerance: 3 SE.
    p = [c.probability for seed in SEEDS for c in truth(seed).courses]
    mean = sum(p) / len(p)
    sd = math.sqrt(sum((x - mean) ** 2 for x in p) / (len(p) - 1))
    assert abs(mean - TARGET) < 3 * sd / math.sqrt(len(p))


def test_the_pooled_response_rate_is_the_setting_within_three_standard_errors() -> None:
    n = sum(truth(seed).n for seed in SEEDS)
    responders = sum(truth(seed).drawn_responders for seed in SEEDS)
    assert abs(responders / n - TARGET) < 3 * math.sqrt(TARGET * (1 - TARGET) / n)


def test_the_95_percent_interval_misses_the_setting_about_one_network_in_twenty() -> None:
    misses = 0
    for seed in SEEDS:
        t = truth(seed)
        r = proportion(sum(c.responded for c in t.courses), t.n)
        assert r.ci_low is not None and r.ci_high is not None
        misses += not (r.ci_low <= TARGET <= r.ci_high)
    # With correct 95% coverage, 4 or more misses out of 8 networks has probability 0.0004.
    assert misses <= 3
