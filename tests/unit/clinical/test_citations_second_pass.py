"""Issue 13, fault 8 (citations) and the consent text that was missing risks."""

from __future__ import annotations

import re
from typing import Any

from ketaflow.clinical import default_rules
from ketaflow.clinical.rules import packaged_rules_raw
from ketaflow.services.consent import consent_texts
from ketaflow.vocabulary import ConsentKind


def _sources(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        out = [(path, node["source"])] if isinstance(node.get("source"), str) else []
        for k, v in node.items():
            out += _sources(v, f"{path}.{k}" if path else k)
        return out
    if isinstance(node, list):
        return [s for i, v in enumerate(node) for s in _sources(v, f"{path}[{i}]")]
    return []


def test_cadss_cites_the_23_item_version_and_its_mixed_raters() -> None:
    cadss = default_rules().scales["cadss"]
    text = (cadss.title + " " + cadss.source).lower()
    assert "23-item" in text
    assert "observer" in text and "patient" in text
    assert "23 subjective" not in text


def test_the_response_definition_cites_a_response_paper_not_a_benzodiazepine_one() -> None:
    for source in (
        default_rules().response.source,
        default_rules().protocol("depression-titration").titration.source,  # type: ignore[union-attr]
    ):
        assert "Andrashko" not in source
        assert "Rush" in source and "2006" in source


def test_the_grogginess_line_cites_acevedo_diaz_2020() -> None:
    line = next(i for i in default_rules().aftercare.instructions if "Grogginess" in i.text)
    assert "Acevedo-Diaz" in line.source and "2020" in line.source


def test_every_label_citation_gives_its_revision_date() -> None:
    label = re.compile(r"(SPRAVATO|Ketalar|KETALAR|ZYVOX|Demerol|DEMEROL)")
    # A label revision: "rev. 10/2024" as printed on the label, or an FDA SPL version's
    # "effective 2026-03-13" date (the label as published in that version).
    revision = re.compile(r"rev\. \d{2}/\d{4}|effective \d{4}-\d{2}-\d{2}")
    missing = [
        path
        for path, source in _sources(packaged_rules_raw())
        for part in re.split(r";|\. (?=[A-Z])", source)
        if label.search(part) and not revision.search(part)
    ]
    assert missing == []


def test_the_consent_text_names_abuse_bladder_liver_and_getting_worse() -> None:
    text = consent_texts()[ConsentKind.KETAMINE_TREATMENT].text.lower()
    assert "abuse" in text or "misuse" in text
    assert "bladder" in text
    assert "liver" in text
    assert "worse" in text
    assert consent_texts()[ConsentKind.KETAMINE_TREATMENT].version != "ketamine-treatment-2026-11-template"
