"""Rating scales: totals, severity bands at every cut-off, alerts, missing answers, outcomes."""

from __future__ import annotations

import pytest

from ketaflow.clinical import describe_instrument, score, series_outcome
from ketaflow.errors import InvalidInput


def answers_for(total: int, items: int, top: int) -> list[int]:
    """Spread ``total`` over ``items`` answers of at most ``top`` (item order irrelevant)."""
    out = []
    for _ in range(items):
        a = min(top, total)
        out.append(a)
        total -= a
    assert total == 0
    return out


# ---------------------------------------------------------------- PHQ-9 (Kroenke 2001)
@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_it_bands_phq9_at_each_cutoff(total: int, band: str) -> None:
    # item 9 kept at 0 where possible (it raises an alert of its own)
    answers = answers_for(total, 8, 3) + [0] if total <= 24 else [3] * 8 + [total - 24]
    result = score("phq9", answers)
    assert result.total == total
    assert result.severity == band


def test_it_scores_the_issue_example() -> None:
    result = score("phq9", [1, 2, 0, 3, 1, 0, 2, 1, 0])
    assert (result.total, result.severity, result.alerts) == (10, "moderate", ())
    assert result.max_total == 27


@pytest.mark.parametrize(("item9", "alerted"), [(0, False), (1, True), (3, True)])
def test_it_raises_a_same_day_review_for_phq9_item_9(item9: int, alerted: bool) -> None:
    result = score("phq9", [0, 0, 0, 0, 0, 0, 0, 0, item9])
    assert bool(result.alerts) is alerted
    if alerted:
        assert result.alerts[0].kind == "suicide_risk"
        assert "same-day" in result.alerts[0].message


@pytest.mark.parametrize(("total", "remission"), [(4, True), (5, False)])
def test_it_marks_phq9_remission_below_5(total: int, remission: bool) -> None:
    assert score("phq9", answers_for(total, 8, 3) + [0]).remission is remission


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([1, 2, 0, 3, 1, 0, 2, 1], "PHQ-9 needs 9 answers; got 8."),
        ([1, 2, 0, 3, 1, 0, 2, 1, 0, 0], "PHQ-9 needs 9 answers; got 10."),
        ([1, 2, 0, 4, 1, 0, 2, 1, 0], "PHQ-9 item 4 must be 0 to 3; got 4."),
        ([1, 2, 0, -1, 1, 0, 2, 1, 0], "PHQ-9 item 4 must be 0 to 3; got -1."),
        ([1, 2, 0, None, 1, 0, 2, 1, 0], "PHQ-9 item 4 is unanswered; all 9 answers are required."),
    ],
)
def test_it_refuses_bad_phq9_answers_in_one_sentence(answers: list[int | None], message: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        score("phq9", answers)
    assert str(exc.value) == message


def test_it_names_the_known_instruments() -> None:
    with pytest.raises(InvalidInput, match="Unknown questionnaire 'phq8'"):
        score("phq8", [0] * 8)


def test_it_accepts_instrument_spellings() -> None:
    assert score("PHQ-9", [0] * 9).instrument == "phq9"
    assert score("QIDS", [0] * 16).instrument == "qids-sr16"
    assert score("GAD-7", [0] * 7).instrument == "gad7"


# ---------------------------------------------------------------- GAD-7 (Spitzer 2006)
@pytest.mark.parametrize(
    ("total", "band"),
    [
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_it_bands_gad7_at_each_cutoff(total: int, band: str) -> None:
    result = score("gad7", answers_for(total, 7, 3))
    assert (result.total, result.severity) == (total, band)
    assert result.remission is None  # Spitzer 2006 gives no remission cut-off


# ---------------------------------------------------------------- MADRS (Snaith 1986; Hawley 2002)
@pytest.mark.parametrize(
    ("total", "band"),
    [
        (6, "normal"),
        (7, "mild"),
        (19, "mild"),
        (20, "moderate"),
        (34, "moderate"),
        (35, "severe"),
        (60, "severe"),
    ],
)
def test_it_bands_madrs_at_each_cutoff(total: int, band: str) -> None:
    answers = answers_for(total, 9, 6) + [0] if total <= 54 else [6] * 9 + [total - 54]
    result = score("madrs", answers)
    assert (result.total, result.severity) == (total, band)


@pytest.mark.parametrize(("total", "remission"), [(8, True), (9, True), (10, False)])
def test_it_marks_madrs_remission_below_10(total: int, remission: bool) -> None:
    assert score("madrs", answers_for(total, 9, 6) + [0]).remission is remission


@pytest.mark.parametrize(("item10", "alerted"), [(1, False), (2, True)])
def test_it_alerts_on_madrs_suicidal_thoughts(item10: int, alerted: bool) -> None:
    assert bool(score("madrs", [0] * 9 + [item10]).alerts) is alerted


# ---------------------------------------------------------------- QIDS-SR16 (Rush 2003)
def test_it_scores_qids_by_its_nine_domains() -> None:
    # Rush 2003 scoring: highest of sleep items 1-4, item 5, highest of weight items 6-9,
    # items 10-14, highest of psychomotor items 15-16.
    answers = [0, 1, 3, 2, 2, 1, 0, 2, 0, 1, 1, 0, 2, 1, 0, 3]
    result = score("qids-sr16", answers)
    assert result.total == 3 + 2 + 2 + 1 + 1 + 0 + 2 + 1 + 3 == 15
    assert result.severity == "moderate"


def test_it_gives_qids_a_maximum_of_27() -> None:
    result = score("qids-sr16", [3] * 16)
    assert (result.total, result.max_total, result.severity) == (27, 27, "very severe")


@pytest.mark.parametrize(
    ("total", "band", "remission"),
    [
        (5, "none", True),
        (6, "mild", False),
        (10, "mild", False),
        (11, "moderate", False),
        (15, "moderate", False),
        (16, "severe", False),
        (20, "severe", False),
        (21, "very severe", False),
    ],
)
def test_it_bands_qids_at_each_cutoff(total: int, band: str, remission: bool) -> None:
    # put the total into the single-item domains 5, 10, 11, 13, 14 and the grouped domains
    domains = answers_for(total, 8, 3)  # 8 domains without suicide (item 12)
    answers = [0] * 16
    answers[0] = domains[0]  # sleep
    answers[4] = domains[1]  # mood
    answers[5] = domains[2]  # appetite
    answers[9] = domains[3]
    answers[10] = domains[4]
    answers[12] = domains[5]
    answers[13] = domains[6]
    answers[14] = domains[7]  # psychomotor
    result = score("qids-sr16", answers)
    assert (result.total, result.severity, result.remission) == (total, band, remission)


def test_it_alerts_on_qids_item_12() -> None:
    answers = [0] * 16
    answers[11] = 1
    assert score("qids-sr16", answers).alerts[0].kind == "suicide_risk"


# ---------------------------------------------------------------- CADSS (Bremner 1998)
def test_it_totals_cadss_over_23_items_scored_0_to_4() -> None:
    assert score("cadss", [4] * 23).total == 92
    assert score("cadss", [1] * 23).total == 23
    assert score("cadss", [0] * 23).severity == "not banded"
    with pytest.raises(InvalidInput, match="CADSS item 1 must be 0 to 4; got 5"):
        score("cadss", [5] + [0] * 22)
    with pytest.raises(InvalidInput, match="CADSS needs 23 answers; got 27"):
        score("cadss", [0] * 27)


# ---------------------------------------------------------------- C-SSRS screener (Posner 2011)
@pytest.mark.parametrize(
    ("answers", "band", "alerted"),
    [
        ([0, 0, 0, 0, 0, 0], "negative", False),
        ([1, 0, 0, 0, 0, 0], "low risk", True),
        ([1, 1, 0, 0, 0, 0], "low risk", True),
        ([1, 1, 1, 0, 0, 0], "moderate risk", True),
        ([0, 0, 0, 0, 0, 1], "moderate risk", True),  # behaviour more than 3 months ago
        ([1, 1, 1, 1, 0, 0], "high risk", True),
        ([1, 1, 1, 1, 1, 0], "high risk", True),
        ([0, 0, 0, 0, 0, 2], "high risk", True),  # behaviour in the past 3 months
    ],
)
def test_it_triages_the_cssrs_screener(answers: list[int], band: str, alerted: bool) -> None:
    result = score("cssrs", answers)
    assert result.severity == band
    assert bool(result.alerts) is alerted


def test_it_asks_for_cssrs_now_when_risk_is_high() -> None:
    assert "now" in score("cssrs", [1, 1, 1, 1, 0, 0]).alerts[0].message


def test_it_refuses_a_cssrs_answer_of_2_outside_question_6() -> None:
    with pytest.raises(InvalidInput, match="C-SSRS screener item 1 must be 0 to 1; got 2"):
        score("cssrs", [2, 0, 0, 0, 0, 0])
    with pytest.raises(InvalidInput, match="item 6 must be 0 to 2; got 3"):
        score("cssrs", [0, 0, 0, 0, 0, 3])


# ---------------------------------------------------------------- response and remission
@pytest.mark.parametrize(
    ("latest", "response"),
    [(16, True), (15, True), (17, False)],  # 50% of 32 = 16
)
def test_it_defines_response_as_a_50_percent_reduction(latest: int, response: bool) -> None:
    assert series_outcome("madrs", [32, 25, latest]).response is response


def test_it_tracks_the_first_response_and_remission() -> None:
    out = series_outcome("madrs", [32, 20, 16, 9, 12])
    assert out.first_response_index == 2
    assert out.first_remission_index == 3
    assert out.response is True
    assert out.remission is False  # latest 12 is above 9
    assert out.reduction_fraction == pytest.approx(20 / 32, abs=1e-4)


def test_it_handles_a_baseline_only_series() -> None:
    out = series_outcome("phq9", [18])
    assert (out.response, out.remission, out.first_response_index) == (False, False, None)


def test_it_refuses_impossible_totals_in_a_series() -> None:
    with pytest.raises(InvalidInput, match="PHQ-9 totals must be 0 to 27; got 30"):
        series_outcome("phq9", [30, 10])


# ---------------------------------------------------------------- questionnaire definitions
@pytest.mark.parametrize(
    ("key", "items"),
    [("phq9", 9), ("gad7", 7), ("madrs", 10), ("qids-sr16", 16), ("cadss", 23), ("cssrs", 6)],
)
def test_it_describes_each_questionnaire_for_a_form(key: str, items: int) -> None:
    q = describe_instrument(key)
    assert len(q.items) == items
    assert all(item.label for item in q.items)
    assert q.missing_rule and q.source


def test_it_labels_the_phq9_answers_and_item_9() -> None:
    q = describe_instrument("phq9")
    assert q.answer_labels == ("Not at all", "Several days", "More than half the days", "Nearly every day")
    assert "better off dead" in q.items[8].label
    assert describe_instrument("cssrs").items[5].answer_max == 2


def test_it_applies_the_cssrs_skip_logic() -> None:
    # questions 3-5 are not asked when question 2 is "no"
    assert score("cssrs", [1, 0, None, None, None, 0]).severity == "low risk"
    with pytest.raises(InvalidInput, match="items 3, 4 and 5 are unanswered"):
        score("cssrs", [1, 1, None, None, None, 0])


def test_it_names_several_unanswered_items() -> None:
    with pytest.raises(InvalidInput) as exc:
        score("gad7", [0, None, 0, None, 0, 0, 0])
    assert str(exc.value) == "GAD-7 items 2 and 4 are unanswered; all 7 answers are required."


def test_it_scores_the_phq_instruction_manual_example() -> None:
    # PHQ/GAD-7 Instruction Manual (Pfizer) scoring example, as quoted secondarily: "the PHQ-9
    # depression severity score is 16 (3 items scored 1, 2 items scored 2, and 3 items scored 3)"
    result = score("phq9", [1, 1, 1, 2, 2, 3, 3, 3, 0])
    assert (result.total, result.severity) == (16, "moderately severe")


def test_it_never_lets_an_unanswered_alert_item_hide_the_alert() -> None:
    from ketaflow.clinical import load_rules

    rules = load_rules(
        {
            "scales": {
                "phq9": {
                    "missing": {
                        "max_missing": 1,
                        "rule": "One item may be left blank.",
                        "source": "Clinic policy 2026-11-25, to be confirmed",
                    }
                }
            }
        }
    )
    assert score("phq9", [1, 1, 1, 1, None, 1, 1, 1, 0], rules).answered == 8
    with pytest.raises(InvalidInput, match="item 9 is unanswered; it is the item that raises a suicide-risk"):
        score("phq9", [1, 1, 1, 1, 1, 1, 1, 1, None], rules)


# ---------------------------------------------------------------- the scales alone
def test_the_scales_alone_are_the_scales_of_the_whole_rules() -> None:
    # Scoring without rules reads scales.toml alone (quick start-up); it must be the very tables
    # the whole packaged rules hold, so no other rule file may override them unnoticed.
    from ketaflow.clinical import default_rules
    from ketaflow.clinical.scales import default_scale_rules

    whole, alone = default_rules(), default_scale_rules()
    assert alone.scales == whole.scales
    assert alone.response == whole.response


def test_scoring_without_rules_agrees_with_the_whole_rules_on_every_instrument() -> None:
    import random

    from ketaflow.clinical import default_rules

    rules = default_rules()
    rng = random.Random(20261206)
    for key in rules.scales:
        form = describe_instrument(key)
        assert form == describe_instrument(key, rules)
        for _ in range(25):
            answers = [rng.randint(item.answer_min, item.answer_max) for item in form.items]
            assert score(key, answers) == score(key, answers, rules), (key, answers)
        totals = [rng.randint(0, score(key, answers).max_total) for _ in range(4)]
        assert series_outcome(key, totals) == series_outcome(key, totals, rules)


def test_an_unknown_questionnaire_names_the_known_ones_without_the_whole_rules() -> None:
    with pytest.raises(InvalidInput, match=r"Unknown questionnaire 'bdi'; choose one of: cadss, cssrs"):
        score("bdi", [0])
