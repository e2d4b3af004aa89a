"""`.ci/run.py`: the README's test command is found by its marker, and the README still opens
with exactly the two commands (the marker is an HTML comment that renders as nothing)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def load_ci_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_run", ROOT / ".ci" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ci_run = load_ci_run()


def test_the_readme_opens_with_exactly_the_two_commands_and_ci_runs_the_second() -> None:
    html = MarkdownIt("commonmark").render(README)
    visible = re.sub(r"<!--.*?-->\n?", "", html, flags=re.S)  # what a reader sees
    opening = visible.split("</pre>", 2)
    assert opening[0].startswith("<h1>ketaflow</h1>\n<p>Run the demo:</p>\n<pre><code>python3 -m venv .venv")
    assert opening[1].startswith("\n<p>Run the tests:</p>\n<pre><code>python3 -m venv .venv")
    blocks = [t.content.strip() for t in MarkdownIt("commonmark").parse(README) if t.type == "code_block"]
    assert blocks[0].endswith(".venv/bin/ketaflow demo")
    command = ci_run.test_command(README)
    assert command == blocks[1]
    assert command.startswith("python3 -m venv .venv && ")
    assert command.endswith(".venv/bin/python -m pytest -q -n auto --dist loadfile")


def test_the_script_prints_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "run.py"), "test-command"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ci_run.test_command(README)


def test_blank_lines_may_stand_between_the_marker_and_its_block() -> None:
    text = "Run the tests:\n\n<!-- ci:test-command -->\n\n\n    make test\n\nMore text.\n"
    assert ci_run.test_command(text) == "make test"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("Run the tests:\n\n    make test\n", "exactly one line <!-- ci:test-command -->"),
        ("<!-- ci:test-command -->\n\n    a\n\n<!-- ci:test-command -->\n\n    b\n", "found 2"),
        ("<!-- ci:test-command -->\n\n    make\n    test\n", "found 2 lines"),
        ("<!-- ci:test-command -->\n\nmake test\n", "found 0 lines"),
    ],
)
def test_a_missing_or_unclear_command_is_refused(text: str, complaint: str) -> None:
    with pytest.raises(ci_run.CiError, match=re.escape(complaint)):
        ci_run.test_command(text)


def test_the_bootstrap_installs_the_locked_psycopg() -> None:
    pins = ci_run.psycopg_pin((ROOT / "requirements.lock").read_text(encoding="utf-8"))
    assert {p.split("==")[0] for p in pins} == {"psycopg", "psycopg-binary"}
    versions = {p.split("==")[1] for p in pins}
    assert len(versions) == 1


def test_only_plain_database_names_are_accepted() -> None:
    with pytest.raises(ci_run.CiError, match="not a plain PostgreSQL database name"):
        ci_run.create_database("postgresql://nobody@127.0.0.1:1", "x; DROP DATABASE postgres")
