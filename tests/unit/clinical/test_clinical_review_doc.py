"""docs/clinical-review.md lists every rule that is clinic policy, and cannot drift from the data."""

from __future__ import annotations

from pathlib import Path

from ketaflow.clinical import default_rules
from ketaflow.clinical.review import GENERATED_END, GENERATED_START, policy_rules, render_policy_section

DOC = Path(__file__).resolve().parents[3] / "docs" / "clinical-review.md"


def test_every_policy_rule_in_the_rules_files_appears_in_the_review() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = policy_rules(default_rules())
    assert len(found) > 20
    missing = [r.path for r in found if f"`{r.path}`" not in text]
    assert missing == []


def test_the_generated_section_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(GENERATED_START), text.index(GENERATED_END) + len(GENERATED_END)
    assert text[start:end] == render_policy_section(default_rules()), (
        "docs/clinical-review.md is out of date: run `python -m ketaflow.clinical.review --write`"
    )


def test_each_policy_rule_says_its_value_reasoning_and_where_to_change_it() -> None:
    for rule in policy_rules(default_rules()):
        assert rule.file.endswith(".toml") and rule.path
        assert rule.value != ""
        assert len(rule.reasoning) >= 10


def test_the_pause_rule_is_a_policy_rule_with_its_reasoning() -> None:
    paths = {r.path for r in policy_rules(default_rules())}
    assert "vitals.thresholds.systolic_high" in paths
    assert "vitals.confirmation" in paths
