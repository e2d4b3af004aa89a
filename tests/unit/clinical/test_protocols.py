"""Protocols: the series plans, spacing, and titration for non-response with good tolerance."""

from __future__ import annotations

import pytest

from ketaflow.clinical import check_interval, list_protocols, next_titration_dose
from ketaflow.errors import InvalidInput


def test_it_lists_the_protocols_with_their_series() -> None:
    by_key = {p.key: p for p in list_protocols()}
    induction = by_key["depression-induction"]
    assert (induction.dose_mg_per_kg, induction.minutes, induction.infusions) == (0.5, 40, 6)
    assert (induction.per_week_min, induction.per_week_max) == (2, 3)
    assert by_key["chronic-pain-crps"].infusions == 10
    assert by_key["depression-maintenance"].kind == "maintenance"
    assert all(p.source and p.series_source for p in by_key.values())


@pytest.mark.parametrize(("hours", "too_soon"), [(47, True), (48, False), (49, False)])
def test_it_spaces_induction_infusions_48_hours_apart(hours: float, too_soon: bool) -> None:
    assert (check_interval("depression-induction", hours) is not None) is too_soon


def test_it_refuses_a_negative_interval() -> None:
    with pytest.raises(InvalidInput):
        check_interval("depression-induction", -1)


def test_it_refuses_an_interval_that_is_not_a_number() -> None:
    # NaN compares false with everything, so it used to pass as "not too soon"
    with pytest.raises(InvalidInput, match="must be a number"):
        check_interval("depression-induction", float("nan"))


def advise(dose: float = 0.5, latest: float = 25, n: int = 2, tolerated: bool = True) -> tuple[float, bool]:
    a = next_titration_dose(
        dose, baseline_score=32, latest_score=latest, infusions_at_current_dose=n, tolerated=tolerated
    )
    return a.next_dose_mg_per_kg, a.changed


def test_it_steps_up_for_non_response_with_good_tolerance() -> None:
    assert advise(0.5) == (0.75, True)
    assert advise(0.75) == (1.0, True)


def test_it_never_steps_past_the_last_step() -> None:
    assert advise(1.0) == (1.0, False)


@pytest.mark.parametrize(("latest", "changed"), [(16, False), (17, True)])  # 50% of 32 = 16
def test_it_keeps_the_dose_for_a_responder(latest: float, changed: bool) -> None:
    assert advise(latest=latest)[1] is changed


def test_it_does_not_step_up_without_tolerance() -> None:
    assert advise(tolerated=False) == (0.5, False)


@pytest.mark.parametrize(("n", "changed"), [(1, False), (2, True), (3, True)])
def test_it_waits_for_enough_infusions_at_a_dose(n: int, changed: bool) -> None:
    assert advise(n=n)[1] is changed


@pytest.mark.parametrize(
    ("dose", "baseline", "latest", "n"),
    [
        (0.5, float("nan"), 25, 2),  # NaN scores used to read as non-response and step up
        (0.5, 32, float("nan"), 2),
        (float("nan"), 32, 25, 2),
        (0.0, 32, 25, 2),
        (0.5, 32, -1, 2),
        (0.5, 32, 25, -1),
    ],
)
def test_it_refuses_titration_input_it_cannot_judge(
    dose: float, baseline: float, latest: float, n: int
) -> None:
    with pytest.raises(InvalidInput):
        next_titration_dose(
            dose, baseline_score=baseline, latest_score=latest, infusions_at_current_dose=n, tolerated=True
        )


def test_it_refuses_a_protocol_without_a_titration_plan() -> None:
    with pytest.raises(InvalidInput, match="no titration plan"):
        next_titration_dose(
            0.5,
            baseline_score=30,
            latest_score=30,
            infusions_at_current_dose=3,
            tolerated=True,
            protocol="depression-induction",
        )
