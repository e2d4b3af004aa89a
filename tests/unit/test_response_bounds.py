"""Worst/best-case bounds of a response rate with missing questionnaires (Manski 1990), checked by hand."""

from __future__ import annotations

import pytest

from ketaflow.analytics.missing import response_bounds


def test_bounds_put_every_non_returner_on_each_side() -> None:
    # 40 completed induction, 30 returned the PHQ-9, 15 of those responded.
    b = response_bounds(15, 30, 40)
    assert (b.returned, b.missing) == (30, 10)
    assert b.observed == pytest.approx(0.5, abs=1e-12)  # 15/30
    assert b.lowest == pytest.approx(0.375, abs=1e-12)  # 15/40
    assert b.highest == pytest.approx(0.625, abs=1e-12)  # 25/40
    assert b.lowest <= b.observed <= b.highest  # type: ignore[operator]


def test_with_every_questionnaire_back_the_bounds_meet() -> None:
    b = response_bounds(7, 20, 20)
    assert b.lowest == b.observed == b.highest == pytest.approx(0.35, abs=1e-12)


def test_nothing_returned_leaves_the_rate_anywhere_between_0_and_1() -> None:
    b = response_bounds(0, 0, 12)
    assert (b.observed, b.lowest, b.highest) == (None, 0.0, 1.0)
    assert response_bounds(0, 0, 0).observed is None


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="returned"):
        response_bounds(5, 10, 8)
