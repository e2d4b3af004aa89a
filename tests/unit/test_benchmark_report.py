"""benchmarks/report.py: a script rewrites only its own marked section of BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_report", ROOT / "benchmarks" / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


report = load_report()

FILE = """# Benchmarks

Intro.

<!-- bench:A -->
## A

old A
<!-- /bench:A -->

<!-- bench:B -->
## B

old B
<!-- /bench:B -->

## History (earlier runs, older code)

### A (earlier runs)

ancient A
"""


def test_replaces_only_its_own_section(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    path.write_text(FILE)
    report.write_section("A", "## A\n\nnew A\n", path)
    text = path.read_text()
    assert "new A" in text and "old A" not in text
    assert text.replace("## A\n\nnew A", "## A\n\nold A") == FILE  # nothing else changed
    assert "ancient A" in text  # the history is kept


def test_a_new_section_goes_above_the_history(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    path.write_text(FILE)
    report.write_section("C", "## C\n\nfirst C\n", path)
    text = path.read_text()
    assert text.index("<!-- bench:C -->") < text.index("## History")
    assert text.index("<!-- /bench:B -->") < text.index("<!-- bench:C -->")
    assert "old A" in text and "old B" in text


def test_without_a_history_a_new_section_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    path.write_text("# Benchmarks\n")
    report.write_section("A", "## A\n", path)
    assert path.read_text() == "# Benchmarks\n\n<!-- bench:A -->\n## A\n<!-- /bench:A -->\n"


def test_an_unclosed_section_is_refused_and_the_file_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "B.md"
    broken = FILE.replace("<!-- /bench:A -->", "")
    path.write_text(broken)
    with pytest.raises(SystemExit, match="no closing"):
        report.write_section("A", "## A\n", path)
    assert path.read_text() == broken


def test_a_smoke_run_may_not_write_the_real_benchmarks_file() -> None:
    args = argparse.Namespace(smoke=True, out=report.BENCHMARKS_MD, no_write=False, max_wait=0.0)
    with pytest.raises(SystemExit, match="--out"):
        report.Run(args)


@pytest.mark.parametrize(("ok", "word"), [(True, "met"), (False, "not met")])
def test_verdict_words(ok: bool, word: str) -> None:
    assert report.verdict(ok) == word


def test_timing_text_gives_median_range_and_count() -> None:
    t = report.Timing([0.300, 0.100, 0.200])
    assert t.text("ms", 0, 1000) == "200 ms [100-300] (3)"
