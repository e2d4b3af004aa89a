"""Issue 19 item 6: the CADSS as the instrument is used, each item with its wording and anchors.

The item texts and the anchors are data in the rules (scales.toml), with their citation; the form
is built from them. Items 1-19 are short paraphrases of the patient-rated items' topics, marked as
such (the exact published wording could not be verified here), items 20-23 (observer-rated) carry
no invented wording. Scoring is unchanged: totals are checked against sums worked by hand.
"""

from __future__ import annotations

import re

import pytest

from ketaflow.clinical import describe_instrument, score

ANCHORS = ("Not at all", "Slightly", "Moderately", "Considerably", "Extremely")


def test_every_item_has_wording_not_a_bare_number() -> None:
    form = describe_instrument("cadss")
    assert len(form.items) == 23
    for item in form.items:
        assert not re.fullmatch(r"CADSS item \d+", item.label), item.label
        assert (item.answer_min, item.answer_max) == (0, 4)
    assert len({i.label for i in form.items}) == 23  # each item its own text


def test_the_answers_are_the_scales_anchors_0_to_4() -> None:
    assert describe_instrument("cadss").answer_labels == ANCHORS


def test_the_form_says_what_the_item_texts_are_and_cites_the_scale() -> None:
    form = describe_instrument("cadss")
    assert form.item_note is not None
    assert "paraphrase" in form.item_note.lower()
    assert "not verified" in form.item_note.lower()
    assert "Bremner" in form.source and "1998" in form.source
    # The observer-rated items carry no invented wording.
    for item in form.items[19:]:
        assert "observer" in item.label.lower() and "not verified" in item.label.lower()


@pytest.mark.parametrize(
    ("answers", "total"),
    [
        ([0] * 23, 0),
        ([4] * 23, 92),  # the scale's maximum, 23 x 4
        ([i % 5 for i in range(23)], 43),  # 0+1+2+3+4 = 10, four times, then 0+1+2: 40 + 3
        ([1] * 19 + [0] * 4, 19),  # patient-rated items only
        ([0] * 19 + [3, 2, 1, 4], 10),
    ],
)
def test_scoring_is_unchanged_against_hand_worked_totals(answers: list[int], total: int) -> None:
    scored = score("cadss", answers)
    assert scored.total == total and scored.max_total == 92
