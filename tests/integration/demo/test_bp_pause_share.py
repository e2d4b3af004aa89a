"""The pause share docs/clinical-review.md reports is what the seeded demo generator gives today."""

from __future__ import annotations

import importlib.util
import re
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bp_pause_share", ROOT / "scripts" / "bp_pause_share.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _doc_share(label: str) -> float:
    text = (ROOT / "docs" / "clinical-review.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("|") and label in line)
    found = re.search(r"([\d.]+)%", row.split("|")[-2])
    assert found, row
    return float(found.group(1)) / 100


@cache
def _share():  # type: ignore[no-untyped-def]
    return _script().simulate()


def test_the_documented_pause_share_matches_a_seeded_run_of_the_generator() -> None:
    share = _share()
    assert share.infusions > 4000
    # within one percentage point: the generator may change a little (another issue changes its
    # dissociation model); beyond that, rerun the script and update the document
    assert abs(share.pause - _doc_share("reach **pause or stop**")) <= 0.01
    assert abs(share.stop - _doc_share("of which reach **stop**")) <= 0.01
    assert abs(share.high_pause - _doc_share("for a **high** blood pressure")) <= 0.01
    assert abs(share.deferred - _doc_share("deferred before the start")) <= 0.01
    assert abs(share.old_pause - _doc_share("the old rule")) <= 0.01
    # and the new rule pauses far fewer infusions than the old one
    assert share.pause < share.old_pause / 4


def test_the_demo_pauses_for_high_blood_pressure_about_as_often_as_published() -> None:
    """Issue 13's done-when: close to published practice.

    Close: the demo's share of infusions reaching a high-pressure pause lies inside the Wilson 95%
    interval of the Yale chart review's severe hypertension (23 of 2,342 infusions, 0.7% to 1.5%),
    and its stop share inside the 95% upper bound of none of 684 stopped (Riva-Posse 2018: 3/684).
    """
    script, share = _script(), _share()
    low, high = script.wilson(*script.PUBLISHED)
    assert low <= share.high_pause <= high
    assert share.stop <= 3 / 684
